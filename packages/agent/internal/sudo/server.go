package sudo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"burrow/agent/internal/reaper"
	"burrow/agent/internal/users"
)

// maxRequest bounds the first message (command line and environment).
const maxRequest = 1 << 20

// Server runs commands for callers allowed to use sudo.
type Server struct {
	Users  *users.DB
	Reaper *reaper.Reaper
	Logf   func(format string, args ...interface{})
}

// Listen opens the socket and serves it until the listener fails.
func (s *Server) Listen(name string) error {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				s.Logf("sudo socket: %v", err)
				return
			}
			go s.serve(c)
		}
	}()
	return nil
}

// Allowed says whether uid may run commands as another user: root, and
// members of the group `sudo` (primary or supplementary).
func Allowed(db *users.DB, uid uint32) bool {
	if uid == 0 {
		return true
	}
	u, err := db.Lookup(db.UserName(uid))
	if err != nil || u.UID != uid {
		return false
	}
	for _, gid := range append([]uint32{u.GID}, u.Groups...) {
		if db.GroupName(gid) == Group {
			return true
		}
	}
	return false
}

func (s *Server) serve(c *net.UnixConn) {
	defer c.Close()
	reply := func(r Reply) { _ = json.NewEncoder(c).Encode(r) }

	// The caller's credentials (SCM_CREDENTIALS, which the kernel checks: a
	// process can only claim its own ids) and descriptors arrive with the first
	// bytes of the request. SO_PEERCRED is no use: gVisor answers it with the
	// asking process's own credentials.
	if err := setPassCred(c); err != nil {
		reply(Reply{Exit: 1, Error: fmt.Sprintf("cannot tell who is calling: %v", err)})
		return
	}
	buf := make([]byte, 64*1024)
	oob := make([]byte, syscall.CmsgSpace(3*4)+syscall.CmsgSpace(syscall.SizeofUcred))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	fds, cred := parseControl(oob[:oobn])
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	if cred == nil {
		reply(Reply{Exit: 1, Error: "cannot tell who is calling: no credentials came with the request"})
		return
	}
	if !Allowed(s.Users, cred.Uid) {
		name := s.Users.UserName(cred.Uid)
		reply(Reply{Exit: 1, Error: fmt.Sprintf("%s is not in the sudoers file (members of the group %q may use sudo)", name, Group)})
		return
	}
	if len(fds) != 3 {
		reply(Reply{Exit: 1, Error: "expected stdin, stdout and stderr with the request"})
		return
	}
	rd := bufio.NewReader(&prefixed{head: buf[:n], conn: c})
	line, err := readLine(rd)
	if err != nil {
		reply(Reply{Exit: 1, Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(Reply{Exit: 1, Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	caller := s.Users.UserName(cred.Uid)
	pid, exitCh, err := s.start(req, fds, cred, caller)
	if err != nil {
		reply(Reply{Exit: 1, Error: err.Error()})
		return
	}
	// Signals the caller forwards go to the command's process group; a caller
	// that goes away takes the command with it.
	go func() {
		for {
			msg, err := readLine(rd)
			if err != nil {
				_ = syscall.Kill(-pid, syscall.SIGHUP)
				return
			}
			var ctl Control
			if json.Unmarshal(msg, &ctl) == nil && ctl.Signal > 0 && ctl.Signal < 65 {
				_ = syscall.Kill(-pid, syscall.Signal(ctl.Signal))
			}
		}
	}()
	ws := <-exitCh
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	reply(Reply{Exit: code})
}

// start runs the request's command as its target user on the caller's descriptors.
func (s *Server) start(req Request, fds []int, cred *syscall.Ucred, caller string) (int, <-chan syscall.WaitStatus, error) {
	target := req.User
	if target == "" {
		target = "root"
	}
	u, err := s.Users.Lookup(target)
	if err != nil {
		return 0, nil, fmt.Errorf("unknown user %s", target)
	}
	shell := u.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	argv := req.Argv
	switch {
	case req.Login && len(argv) == 0:
		argv = []string{shell, "-l"}
	case req.Login:
		argv = []string{shell, "-l", "-c", strings.Join(argv, " ")}
	case req.Shell && len(argv) == 0:
		argv = []string{shell}
	case req.Shell:
		argv = []string{shell, "-c", strings.Join(argv, " ")}
	}
	if len(argv) == 0 {
		return 0, nil, fmt.Errorf("no command given")
	}
	env := commandEnv(req, u, shell, cred, caller)
	dir := req.Cwd
	if req.Login {
		dir = u.Home
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = "/"
	}
	bin, err := findCommand(argv[0], env, dir)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: command not found", argv[0])
	}
	groups := append([]uint32{u.GID}, u.Groups...)
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: groups},
			Setpgid:    true,
		},
	}
	return s.Reaper.Spawn(func() (int, error) { return syscall.ForkExec(bin, argv, attr) })
}

// commandEnv is sudo's default policy: a fresh environment for the target
// user (keeping TERM and the like), or the caller's with -E, plus SUDO_*.
func commandEnv(req Request, u *users.User, shell string, cred *syscall.Ucred, caller string) []string {
	env := map[string]string{}
	get := func(list []string, name string) (string, bool) {
		for _, kv := range list {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
	if req.Preserve {
		for _, kv := range req.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	} else {
		for _, k := range append([]string{"TERM", "COLORTERM", "LANG", "LANGUAGE", "LC_ALL", "DISPLAY", "TZ"}, req.PreserveList...) {
			if v, ok := get(req.Env, k); ok {
				env[k] = v
			}
		}
		env["PATH"] = SecurePath
	}
	env["HOME"], env["USER"], env["LOGNAME"], env["SHELL"] = u.Home, u.Name, u.Name, shell
	env["SUDO_USER"] = caller
	env["SUDO_UID"] = fmt.Sprint(cred.Uid)
	env["SUDO_GID"] = fmt.Sprint(cred.Gid)
	env["SUDO_COMMAND"] = strings.Join(req.Argv, " ")
	for _, kv := range req.SetEnv {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// findCommand looks cmd up in env's PATH; names with a slash are used as given.
func findCommand(cmd string, env []string, dir string) (string, error) {
	if strings.Contains(cmd, "/") {
		if !filepath.IsAbs(cmd) {
			cmd = filepath.Join(dir, cmd)
		}
		return cmd, nil
	}
	path := SecurePath
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[len("PATH="):]
		}
	}
	for _, d := range filepath.SplitList(path) {
		cand := filepath.Join(d, cmd)
		if !filepath.IsAbs(cand) {
			cand = filepath.Join(dir, cand)
		}
		if st, err := os.Stat(cand); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", syscall.ENOENT
}

func setPassCred(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var setErr error
	if err := raw.Control(func(fd uintptr) {
		setErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	return setErr
}

// parseControl returns the descriptors and the credentials a message carried.
func parseControl(oob []byte) ([]int, *syscall.Ucred) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil
	}
	var fds []int
	var cred *syscall.Ucred
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_RIGHTS:
			if got, err := syscall.ParseUnixRights(m); err == nil {
				fds = append(fds, got...)
			}
		case m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_CREDENTIALS:
			if got, err := syscall.ParseUnixCredentials(m); err == nil {
				cred = got
			}
		}
	}
	return fds, cred
}

// readLine reads one newline-terminated message, at most maxRequest bytes.
func readLine(rd *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := rd.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxRequest {
			return nil, fmt.Errorf("message longer than %d bytes", maxRequest)
		}
		if !isPrefix {
			return line, nil
		}
	}
}

// prefixed reads head first, then the connection.
type prefixed struct {
	head []byte
	conn net.Conn
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.conn.Read(b)
}
