package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/ringbuf"
	"burrow/agent/internal/users"
	"burrow/agent/internal/wire"
)

// DefaultPath is PATH for processes when the agent itself has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Default terminal size when a pty request gives none.
const (
	defaultCols = 80
	defaultRows = 24
)

// Spec is everything needed to start one process.
type Spec struct {
	Argv    []string // Argv[0] is the command as requested
	Env     []string
	Dir     string
	Cred    *syscall.Credential
	PTY     bool
	Cols    uint16
	Rows    uint16
	Stdin   bool
	Tag     *string
	Config  wire.ProcessConfig
	Timeout time.Duration // SIGKILL after this long; 0 for none
}

// BuildEnv returns the environment of a process started for u: a base set,
// then the sandbox-wide variables, then the request's (highest precedence).
func BuildEnv(u *users.User, sandbox, request map[string]string, pty bool) ([]string, error) {
	path := os.Getenv("PATH")
	if path == "" {
		path = DefaultPath
	}
	shell := u.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	env := map[string]string{
		"PATH": path, "HOME": u.Home, "USER": u.Name, "LOGNAME": u.Name,
		"SHELL": shell, "LANG": "C.UTF-8",
	}
	if pty {
		env["TERM"] = "xterm-256color"
	}
	for _, layer := range []map[string]string{sandbox, request} {
		for k, v := range layer {
			if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
				return nil, connect.Errorf(connect.InvalidArgument, "invalid environment variable %q", k)
			}
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// Credential returns the credential to run as u, or nil to run as the agent's
// own user.
func Credential(u *users.User) (*syscall.Credential, error) {
	euid := os.Geteuid()
	if euid == 0 {
		groups := append([]uint32{u.GID}, u.Groups...)
		return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: groups}, nil
	}
	if uint32(euid) == u.UID {
		return nil, nil
	}
	return nil, connect.Errorf(connect.PermissionDenied, "the agent runs as uid %d and cannot start processes as %q", euid, u.Name)
}

// lookPath finds cmd in the PATH of env the way execvp does; names with a
// slash are used as given (relative ones against dir, after the child's chdir).
func lookPath(cmd string, env []string, dir string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[len("PATH="):]
		}
	}
	denied := false
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		cand := filepath.Join(d, cmd)
		if !filepath.IsAbs(cand) {
			cand = filepath.Join(dir, cand)
		}
		st, err := os.Stat(cand)
		if err != nil || st.IsDir() {
			continue
		}
		if st.Mode()&0o111 == 0 {
			denied = true
			continue
		}
		return cand, nil
	}
	if denied {
		return "", syscall.EACCES
	}
	return "", syscall.ENOENT
}

// execExitCode maps an exec failure to the exit code a shell would report:
// 127 for "not found", 126 for "found but not executable"; 0 means the error
// is not an exec failure.
func execExitCode(err error) int32 {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return 0
	}
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR:
		return 127
	case syscall.EACCES, syscall.ENOEXEC, syscall.EISDIR, syscall.EPERM:
		return 126
	}
	return 0
}

// failedProcess is the stand-in for a command that could not be executed: pid
// 0, a message on stderr, and an end event with exit code 127 or 126.
func failedProcess(spec Spec, code int32, err error) *Process {
	p := newProcess(0, spec.Tag, spec.Config)
	p.IsPTY = spec.PTY
	msg := fmt.Sprintf("burrow-agent: %s: %v\n", spec.Argv[0], err)
	kind := ringbuf.Stderr
	if spec.PTY {
		kind = ringbuf.PTY
	}
	p.out.Append(kind, []byte(msg))
	errText := fmt.Sprintf("exec %q: %v", spec.Argv[0], err)
	p.finish(wire.EndEvent{ExitCode: code, Exited: true, Status: fmt.Sprintf("exit status %d", code), Error: &errText})
	return p
}

// Start spawns spec and returns the process with a reader attached to its
// output from the very start (the caller must Close it). A command that
// cannot be executed yields an already ended stand-in process, not an error.
func (m *Manager) Start(spec Spec) (*Process, *ringbuf.Reader, error) {
	for _, s := range append(append([]string{}, spec.Argv...), spec.Dir) {
		if strings.ContainsRune(s, 0) {
			return nil, nil, connect.Errorf(connect.InvalidArgument, "command, arguments and cwd must not contain NUL bytes")
		}
	}
	bin, err := lookPath(spec.Argv[0], spec.Env, spec.Dir)
	if err != nil {
		p := failedProcess(spec, execExitCode(err), err)
		return p, p.out.NewReader(0), nil
	}
	p, err := m.spawn(spec, bin)
	if err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) {
			return nil, nil, err
		}
		if code := execExitCode(err); code != 0 {
			p := failedProcess(spec, code, err)
			return p, p.out.NewReader(0), nil
		}
		return nil, nil, connect.Errorf(connect.Internal, "start %q: %v", spec.Argv[0], err)
	}
	return p, p.reader0, nil
}

// spawn forks and execs bin for spec; plain errors are exec failures.
func (m *Manager) spawn(spec Spec, bin string) (*Process, error) {

	var parentEnds, childEnds []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	sys := &syscall.SysProcAttr{Credential: spec.Cred}
	var files []uintptr
	var master, stdinW, stdoutR, stderrR *os.File

	if spec.PTY {
		m2, slave, err := openPTY()
		if err != nil {
			return nil, connect.Errorf(connect.Internal, "%v", err)
		}
		master = m2
		cols, rows := spec.Cols, spec.Rows
		if cols == 0 || rows == 0 {
			cols, rows = defaultCols, defaultRows
		}
		if err := setWinsize(master, cols, rows); err != nil {
			master.Close()
			slave.Close()
			return nil, connect.Errorf(connect.Internal, "set pty size: %v", err)
		}
		parentEnds, childEnds = []*os.File{master}, []*os.File{slave}
		fd := slave.Fd()
		files = []uintptr{fd, fd, fd}
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	} else {
		var stdinR *os.File
		if spec.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, connect.Errorf(connect.Internal, "stdin pipe: %v", err)
			}
			stdinR, stdinW = r, w
			parentEnds = append(parentEnds, w)
		} else {
			r, err := os.Open(os.DevNull)
			if err != nil {
				return nil, connect.Errorf(connect.Internal, "open %s: %v", os.DevNull, err)
			}
			stdinR = r
		}
		childEnds = append(childEnds, stdinR)
		outR, outW, err1 := os.Pipe()
		if err1 == nil {
			parentEnds, childEnds = append(parentEnds, outR), append(childEnds, outW)
		}
		errR, errW, err2 := os.Pipe()
		if err2 == nil {
			parentEnds, childEnds = append(parentEnds, errR), append(childEnds, errW)
		}
		if err1 != nil || err2 != nil {
			closeAll(parentEnds)
			closeAll(childEnds)
			return nil, connect.Errorf(connect.Internal, "output pipes: %v %v", err1, err2)
		}
		stdoutR, stderrR = outR, errR
		files = []uintptr{stdinR.Fd(), outW.Fd(), errW.Fd()}
		sys.Setpgid = true
	}

	attr := &syscall.ProcAttr{Dir: spec.Dir, Env: spec.Env, Files: files, Sys: sys}
	pid, exitCh, err := m.reaper.Spawn(func() (int, error) {
		return syscall.ForkExec(bin, spec.Argv, attr)
	})
	closeAll(childEnds)
	if err != nil {
		closeAll(parentEnds)
		return nil, err
	}

	p := newProcess(pid, spec.Tag, spec.Config)
	p.reader0 = p.out.NewReader(0) // before any output can arrive
	p.IsPTY = spec.PTY
	p.pty = master
	p.stdin, p.stdinFile = stdinW, stdinW
	m.register(p)

	var pumps sync.WaitGroup
	startPump := func(f *os.File, kind ringbuf.Kind) {
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			defer m.recoverGoroutine("output pump")
			p.pump(f, kind)
		}()
	}
	if spec.PTY {
		startPump(master, ringbuf.PTY)
	} else {
		startPump(stdoutR, ringbuf.Stdout)
		startPump(stderrR, ringbuf.Stderr)
	}
	if spec.Timeout > 0 {
		p.mu.Lock()
		p.killTimer = time.AfterFunc(spec.Timeout, func() {
			if p.Signal(syscall.SIGKILL) == nil {
				m.logf("process %d killed: its timeout of %s expired", pid, spec.Timeout)
			}
		})
		p.mu.Unlock()
	}
	go m.awaitExit(p, exitCh, &pumps)
	return p, nil
}

// awaitExit waits for the exit status and (briefly) for the output to drain,
// then publishes the end event.
func (m *Manager) awaitExit(p *Process, exitCh <-chan syscall.WaitStatus, pumps *sync.WaitGroup) {
	defer m.recoverGoroutine("exit waiter")
	ws := <-exitCh
	drained := make(chan struct{})
	go func() {
		pumps.Wait()
		close(drained)
	}()
	exited := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-drained:
			break wait
		case <-tick.C:
			if (time.Since(exited) >= drainGrace && p.outputIdle()) || time.Since(exited) >= maxDrain {
				break wait
			}
		}
	}
	end := endFromStatus(ws)
	p.finish(end)
	m.onExit(p)
	m.logf("process %d ended: %s", p.Pid, end.Status)
}
