// Command burrow-shim runs host commands (runsc) for the Burrow control plane.
//
// It makes itself a child subreaper, so the gofer and sandbox processes that
// `runsc run --detach` leaves behind become its children and are reaped the
// moment they exit. Without that, `runsc delete` waits ~1.5 s for the machine's
// init to reap them.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on
// stdout, matched by id. Requests run concurrently. The shim exits when stdin
// closes (its server is gone), after finishing the requests under way; sandboxes keep running, adopted by init.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const prSetChildSubreaper = 36

// maxCapture bounds how much of a command's stdout/stderr is kept (the tail).
const maxCapture = 1 << 20

type request struct {
	ID        int64    `json:"id"`
	Argv      []string `json:"argv"`
	TimeoutMs int64    `json:"timeoutMs"`
	// Stdio "null" gives the command /dev/null for stdin, stdout and stderr
	// (for runsc run/restore --detach, whose sandbox inherits them);
	// anything else captures stdout and stderr.
	Stdio string `json:"stdio"`
}

type reply struct {
	ID       int64  `json:"id"`
	ExitCode int    `json:"exitCode"`
	Signal   int    `json:"signal,omitempty"`
	TimedOut bool   `json:"timedOut,omitempty"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Error    string `json:"error,omitempty"`
}

type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
}

func (r *reaper) loop(sigs <-chan os.Signal) {
	for range sigs {
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			r.mu.Lock()
			ch, ok := r.waiters[pid]
			delete(r.waiters, pid)
			r.mu.Unlock()
			if ok {
				ch <- status
			}
		}
	}
}

// start forks the command and registers it under the same lock the reaper
// takes before dispatching, so no exit status can be missed.
func (r *reaper) start(argv []string, files []uintptr) (int, chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: files,
		// No Setpgid: a sandbox started in a process group of its own cannot be restored
		// from a checkpoint (runsc restore then boots a kernel without the saved tasks).
		Sys: &syscall.SysProcAttr{},
	})
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

type tail struct{ buf []byte }

func (t *tail) write(p []byte) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > maxCapture {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-maxCapture:]...)
	}
}

func drain(f *os.File, t *tail, done *sync.WaitGroup) {
	defer done.Done()
	defer f.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := f.Read(buf)
		t.write(buf[:n])
		if err != nil {
			return
		}
	}
}

func lookPath(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if st, err := os.Stat(dir + "/" + name); err == nil && !st.IsDir() {
			return dir + "/" + name
		}
	}
	return name
}

func run(r *reaper, req request) reply {
	out := reply{ID: req.ID}
	if len(req.Argv) == 0 {
		out.ExitCode, out.Error = -1, "empty argv"
		return out
	}
	argv := append([]string{lookPath(req.Argv[0])}, req.Argv[1:]...)
	// Separate /dev/null files for stdin (read) and stdout/stderr (write), as a shell would
	// give them; a detached sandbox keeps these as its stdio.
	nullIn, err := os.Open("/dev/null")
	if err != nil {
		out.ExitCode, out.Error = -1, err.Error()
		return out
	}
	defer nullIn.Close()
	nullOut, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		out.ExitCode, out.Error = -1, err.Error()
		return out
	}
	defer nullOut.Close()
	nullErr, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		out.ExitCode, out.Error = -1, err.Error()
		return out
	}
	defer nullErr.Close()
	var stdout, stderr tail
	var drained sync.WaitGroup
	files := []uintptr{nullIn.Fd(), nullOut.Fd(), nullErr.Fd()}
	var writers []*os.File
	if req.Stdio != "null" {
		for i, t := range []*tail{&stdout, &stderr} {
			rd, wr, err := os.Pipe()
			if err != nil {
				out.ExitCode, out.Error = -1, err.Error()
				return out
			}
			files[i+1] = wr.Fd()
			writers = append(writers, wr)
			drained.Add(1)
			go drain(rd, t, &drained)
		}
	}
	pid, exited, err := r.start(argv, files)
	for _, w := range writers {
		w.Close()
	}
	if err != nil {
		drained.Wait()
		out.ExitCode, out.Error = 127, err.Error()
		return out
	}
	var status syscall.WaitStatus
	if req.TimeoutMs > 0 {
		timer := time.NewTimer(time.Duration(req.TimeoutMs) * time.Millisecond)
		select {
		case status = <-exited:
			timer.Stop()
		case <-timer.C:
			out.TimedOut = true
			_ = syscall.Kill(pid, syscall.SIGKILL)
			status = <-exited
		}
	} else {
		status = <-exited
	}
	drained.Wait()
	out.Stdout, out.Stderr = string(stdout.buf), string(stderr.buf)
	if status.Signaled() {
		out.Signal = int(status.Signal())
		out.ExitCode = 128 + out.Signal
	} else {
		out.ExitCode = status.ExitStatus()
	}
	return out
}

func main() {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		os.Stderr.WriteString("burrow-shim: prctl(PR_SET_CHILD_SUBREAPER) failed: " + errno.Error() + "\n")
	}
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	r := &reaper{waiters: map[int]chan syscall.WaitStatus{}}
	go r.loop(sigs)

	var writeMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 64*1024), 16<<20)
	var inFlight sync.WaitGroup
	for scanner.Scan() {
		var req request
		if err := json.Unmarshal(scanner.Bytes(), &req); err != nil {
			os.Stderr.WriteString("burrow-shim: bad request: " + err.Error() + "\n")
			continue
		}
		inFlight.Add(1)
		go func(req request) {
			defer inFlight.Done()
			res := run(r, req)
			writeMu.Lock()
			_ = enc.Encode(res)
			writeMu.Unlock()
		}(req)
	}
	inFlight.Wait()
}
