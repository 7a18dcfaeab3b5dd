// Command burrow-agent is PID 1 inside every Burrow sandbox. It reaps
// orphans and serves E2B's envd protocol (processes, filesystem, /files) over
// HTTP/1.1 on a TCP port and/or a unix socket.
//
// Flags: --port (TCP, default 49983, 0 disables), --uds PATH (unix socket,
// mode 0600), --default-user, --default-workdir, --passwd, --group,
// --token-file PATH (the access token, in a root-only file the host writes;
// read and removed at start, and read again when a request's token does not
// match, so the host can take back an agent whose token was changed).
// Environment: BURROW_AGENT_TOKEN, the access token as sandboxes made by older
// releases pass it (removed from the agent's environment so no child inherits
// it; /proc/1/environ still shows it, which is why --token-file exists).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"burrow/agent/internal/memtrim"
	"burrow/agent/internal/oomguard"
	"burrow/agent/internal/server"
	"burrow/agent/internal/state"
	"burrow/agent/internal/sudo"
	"burrow/agent/internal/users"
)

// tokenEnv names the variable holding the initial access token.
const tokenEnv = "BURROW_AGENT_TOKEN"

// prSetChildSubreaper makes orphaned descendants reparent to the agent when
// it is not PID 1 (it already is their reaper as PID 1).
const prSetChildSubreaper = 36

func main() {
	// Called as `sudo` (the template links /usr/local/bin/sudo to this binary):
	// ask the agent to run the command (see package sudo).
	if filepath.Base(os.Args[0]) == "sudo" {
		os.Exit(sudo.Main(os.Args[1:]))
	}
	logger := log.New(os.Stderr, "burrow-agent: ", 0)
	logf := logger.Printf

	port := flag.Int("port", 49983, "TCP port to serve on (0 disables TCP)")
	uds := flag.String("uds", "", "unix socket path to serve on (empty disables)")
	defaultUser := flag.String("default-user", "user", "user for requests that name none")
	defaultWorkdir := flag.String("default-workdir", "", "working directory for requests without one (default: the user's home)")
	passwd := flag.String("passwd", "/etc/passwd", "passwd file to resolve users from")
	group := flag.String("group", "/etc/group", "group file to resolve groups from")
	tokenFile := flag.String("token-file", "", "root-only file holding the access token (removed once read)")
	logFile := flag.String("log-file", "", "also log to this file, kept under 1 MiB (the host reads it when the sandbox dies)")
	flag.Parse()

	if *logFile != "" {
		if f, err := openCappedLog(*logFile); err == nil {
			logger.SetOutput(io.MultiWriter(os.Stderr, f))
		} else {
			logf("cannot open log file %s: %v", *logFile, err)
		}
	}

	// A closed stderr pipe (control plane gone) must not kill PID 1, and
	// SIGHUP's default action (exit) is wrong for an init process.
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)

	token := os.Getenv(tokenEnv)
	_ = os.Unsetenv(tokenEnv)
	if *tokenFile != "" {
		t, err := state.ReadTokenFile(*tokenFile)
		switch {
		case err == nil:
			token = t
		case token == "":
			// Serving without a token would let anything in the sandbox drive the agent.
			logger.Fatalf("no access token: %v", err)
		}
	}

	if *port < 0 || *port > 65535 {
		logger.Fatalf("--port %d is out of range (0-65535)", *port)
	}
	if *port == 0 && *uds == "" {
		logger.Fatalf("nothing to serve on: pass --port N and/or --uds PATH")
	}
	if os.Getpid() != 1 {
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	}

	// gVisor has no OOM killer of its own: the agent is the sandbox's.
	oomguard.Start(logf)

	agent := server.Assemble(server.Config{
		Token: token, TokenFile: *tokenFile, DefaultUser: *defaultUser, DefaultWorkdir: *defaultWorkdir,
		PasswdPath: *passwd, GroupPath: *group, Logf: logf,
	})
	// sudo for the sandbox's users, only as a sandbox's init: the socket is
	// abstract (per network namespace), and on a host it would hand root out.
	if os.Getpid() == 1 {
		sudoers := &sudo.Server{Users: users.NewDB(*passwd, *group), Reaper: agent.Reaper, Logf: logf}
		if err := sudoers.Listen(sudo.SocketName); err != nil {
			logf("sudo is unavailable: %v", err)
		}
	}
	srv := &http.Server{
		Handler: agent.Handler,
		// The server closes every connection before a checkpoint: free memory then stays out of the image.
		ConnState:         memtrim.New(nil).ConnState,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       640 * time.Second, // longer than any proxy in front
		ErrorLog:          logger,
	}

	var listeners []net.Listener
	if *port > 0 {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
		if err != nil {
			logger.Fatalf("listen on TCP port %d: %v", *port, err)
		}
		listeners = append(listeners, ln)
	}
	if *uds != "" {
		ln, err := listenUnix(*uds)
		if err != nil {
			logger.Fatalf("listen on %s: %v", *uds, err)
		}
		listeners = append(listeners, ln)
	}
	for _, ln := range listeners {
		logf("serving on %s %s (pid %d, token set: %v)", ln.Addr().Network(), ln.Addr(), os.Getpid(), token != "")
		go func(ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Fatalf("serve %s: %v", ln.Addr(), err)
			}
		}(ln)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	logf("received %v; stopping processes", sig)
	agent.Shutdown(2 * time.Second)
	_ = srv.Close()
	if *uds != "" {
		_ = os.Remove(*uds)
	}
}

// listenUnix listens on path, replacing a stale socket left by an earlier
// run; the socket is readable and writable by its owner only.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o177) // no window where the socket is open to others
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
