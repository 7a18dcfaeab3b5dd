// Package process runs commands for the process.Process service: spawning
// with pipes or a pty, keeping their output in a bounded ring buffer, reaping
// through the shared reaper, and serving Start/Connect streams.
package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/ringbuf"
	"burrow/agent/internal/wire"
)

// OutputBufferBytes is the output kept per process (stdout, stderr and pty
// together): 1 MiB. Older output is dropped first.
const OutputBufferBytes = 1 << 20

// ReaderStall is how long a process's output may wait for a live stream
// that reads nothing before that stream is detached and skips ahead (see
// package ringbuf for the policy).
const ReaderStall = 10 * time.Second

// readChunkBytes is the size of one read from a process's output.
const readChunkBytes = 32 << 10

// After the process exits its output is drained until EOF, but descendants
// that inherited the pipes may keep them open. The end event is sent once no
// output has arrived for drainGrace (or after maxDrain in all); later output
// of such descendants still goes to the ring buffer (so they never get
// SIGPIPE) but is not streamed.
const (
	drainGrace = 500 * time.Millisecond
	maxDrain   = 5 * time.Second
)

// inputWriteTimeout bounds a blocked write to a process's stdin or pty.
const inputWriteTimeout = 30 * time.Second

// Process is one started command, running or exited.
type Process struct {
	Pid    int
	Tag    *string
	Config wire.ProcessConfig
	IsPTY  bool

	out *ringbuf.Buffer

	// Output pump activity, to tell a slow reader (keep draining) from an idle
	// pipe held open by a descendant (stop waiting).
	pumping  atomic.Int32 // pumps inside Append
	lastData atomic.Int64 // unix nanoseconds of the last output read

	inMu      sync.Mutex
	stdin     *os.File        // write end of stdin; nil when disabled or closed
	pty       *os.File        // pty master
	stdinFile *os.File        // the stdin pipe as opened, for closing without inMu
	reader0   *ringbuf.Reader // attached at spawn for the Start stream

	mu        sync.Mutex
	ended     bool
	end       wire.EndEvent
	endSeq    uint64
	exitedAt  time.Time
	killTimer *time.Timer
	done      chan struct{} // closed after ended is set
}

func newProcess(pid int, tag *string, cfg wire.ProcessConfig) *Process {
	return &Process{Pid: pid, Tag: tag, Config: cfg, out: ringbuf.NewWithStall(OutputBufferBytes, ReaderStall), done: make(chan struct{})}
}

// Done is closed once the end event is available.
func (p *Process) Done() <-chan struct{} { return p.done }

// endState returns the end event, the sequence number output stops at, and
// whether the process has ended.
func (p *Process) endState() (wire.EndEvent, uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.end, p.endSeq, p.ended
}

func (p *Process) exitTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitedAt
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	_, _, ended := p.endState()
	return ended
}

// finish records the end event; output appended later is not streamed.
func (p *Process) finish(end wire.EndEvent) {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.ended = true
	p.end = end
	p.endSeq = p.out.Next()
	p.exitedAt = time.Now()
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	p.mu.Unlock()
	close(p.done)

	// Close without inMu: Close interrupts a write blocked on a full pipe.
	if p.stdinFile != nil {
		p.stdinFile.Close()
	}
	if p.pty != nil {
		p.pty.Close()
	}
}

// endFromStatus converts a wait status into the envd end event (the same
// status strings as Go's os.ProcessState).
func endFromStatus(ws syscall.WaitStatus) wire.EndEvent {
	var ev wire.EndEvent
	switch {
	case ws.Exited():
		ev.ExitCode = int32(ws.ExitStatus())
		ev.Exited = true
		ev.Status = fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		ev.ExitCode = -1
		ev.Status = "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			ev.Status += " (core dumped)"
		}
	default:
		ev.ExitCode = -1
		ev.Status = fmt.Sprintf("unknown wait status %#x", uint32(ws))
	}
	if !(ev.Exited && ev.ExitCode == 0) {
		msg := ev.Status
		ev.Error = &msg
	}
	return ev
}

// pump copies r into the ring buffer until EOF or error, then closes r.
func (p *Process) pump(r *os.File, kind ringbuf.Kind) {
	defer r.Close()
	buf := make([]byte, readChunkBytes)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			p.pumping.Add(1)
			p.out.Append(kind, buf[:n])
			p.lastData.Store(time.Now().UnixNano())
			p.pumping.Add(-1)
		}
		if err != nil {
			return // io.EOF, or EIO once every pty slave is closed
		}
	}
}

// outputIdle reports whether no pump is busy and none has read output for
// drainGrace.
func (p *Process) outputIdle() bool {
	return p.pumping.Load() == 0 && time.Since(time.Unix(0, p.lastData.Load())) >= drainGrace
}

// Signal delivers sig to the process group (the process leads its own group),
// falling back to the process alone.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || p.Pid <= 0 {
		return connect.Errorf(connect.NotFound, "process %d has already exited", p.Pid)
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		if err := syscall.Kill(p.Pid, sig); err != nil {
			// Exited and reaped, while its last output is still being delivered.
			if err == syscall.ESRCH {
				return connect.Errorf(connect.NotFound, "process %d has already exited", p.Pid)
			}
			return connect.Errorf(connect.Internal, "signal process %d: %v", p.Pid, err)
		}
	}
	return nil
}

// WriteStdin writes data to the process's stdin pipe.
func (p *Process) WriteStdin(data []byte) error {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if p.IsPTY {
		return connect.Errorf(connect.FailedPrecondition, "process %d has a pty; send input as pty, not stdin", p.Pid)
	}
	if p.stdin == nil {
		return connect.Errorf(connect.FailedPrecondition, "stdin of process %d is not open; start it with stdin: true", p.Pid)
	}
	return writeWithTimeout(p.stdin, data, p.Pid)
}

// WritePTY writes data to the process's terminal.
func (p *Process) WritePTY(data []byte) error {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if !p.IsPTY || p.pty == nil {
		return connect.Errorf(connect.FailedPrecondition, "process %d has no pty; send input as stdin", p.Pid)
	}
	return writeWithTimeout(p.pty, data, p.Pid)
}

func writeWithTimeout(f *os.File, data []byte, pid int) error {
	_ = f.SetWriteDeadline(time.Now().Add(inputWriteTimeout))
	defer f.SetWriteDeadline(time.Time{})
	if _, err := f.Write(data); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return connect.Errorf(connect.DeadlineExceeded, "process %d is not reading its input", pid)
		}
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
			return connect.Errorf(connect.FailedPrecondition, "input of process %d is closed", pid)
		}
		return connect.Errorf(connect.Internal, "write input of process %d: %v", pid, err)
	}
	return nil
}

// CloseStdin closes the stdin pipe so the process reads EOF.
func (p *Process) CloseStdin() error {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if p.IsPTY {
		return connect.Errorf(connect.FailedPrecondition, "process %d has a pty; send Ctrl-D (0x04) instead of closing stdin", p.Pid)
	}
	if p.stdin != nil {
		err := p.stdin.Close()
		p.stdin = nil
		if err != nil && !errors.Is(err, os.ErrClosed) {
			return connect.Errorf(connect.Internal, "close stdin of process %d: %v", p.Pid, err)
		}
	}
	return nil
}

// Resize sets the terminal size.
func (p *Process) Resize(cols, rows uint32) error {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if !p.IsPTY || p.pty == nil {
		return connect.Errorf(connect.FailedPrecondition, "process %d has no pty to resize", p.Pid)
	}
	if cols == 0 || rows == 0 || cols > 0xffff || rows > 0xffff {
		return connect.Errorf(connect.InvalidArgument, "invalid pty size %dx%d", cols, rows)
	}
	if err := setWinsize(p.pty, uint16(cols), uint16(rows)); err != nil {
		return connect.Errorf(connect.Internal, "resize pty of process %d: %v", p.Pid, err)
	}
	return nil
}

// Info describes the process for List.
func (p *Process) Info() wire.ProcessInfo {
	cfg := p.Config
	return wire.ProcessInfo{Config: &cfg, Pid: uint32(p.Pid), Tag: p.Tag}
}
