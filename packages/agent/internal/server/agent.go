package server

import (
	"syscall"
	"time"

	"burrow/agent/internal/fsys"
	"burrow/agent/internal/process"
	"burrow/agent/internal/reaper"
	"burrow/agent/internal/state"
	"burrow/agent/internal/users"
)

// Config is the agent's start-up configuration.
type Config struct {
	Token          string
	TokenFile      string
	DefaultUser    string
	DefaultWorkdir string
	PasswdPath     string
	GroupPath      string
	Logf           func(format string, args ...interface{})
}

// Agent is the assembled agent: reaper, process manager and HTTP handler.
type Agent struct {
	Handler *Server
	Reaper  *reaper.Reaper
	Procs   *process.Manager
	State   *state.State
	stop    chan struct{}
}

// Assemble builds and starts the agent's components (not its listeners).
func Assemble(cfg Config) *Agent {
	r := reaper.New()
	r.Start()
	st := state.New(state.Options{
		Token:          cfg.Token,
		TokenFile:      cfg.TokenFile,
		DefaultUser:    cfg.DefaultUser,
		DefaultWorkdir: cfg.DefaultWorkdir,
		Users:          users.NewDB(cfg.PasswdPath, cfg.GroupPath),
	})
	mgr := process.NewManager(r, cfg.Logf)
	a := &Agent{Reaper: r, Procs: mgr, State: st, stop: make(chan struct{})}
	go mgr.RunPruner(a.stop)
	a.Handler = New(Options{
		State:   st,
		Process: &process.Service{M: mgr, State: st, Logf: cfg.Logf},
		FS:      &fsys.Service{State: st, Logf: cfg.Logf},
		Logf:    cfg.Logf,
	})
	return a
}

// Shutdown sends SIGTERM to every running process, waits up to grace for them
// to exit, kills the rest, and stops the background loops.
func (a *Agent) Shutdown(grace time.Duration) {
	a.Procs.SignalAll(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && len(a.Procs.Running()) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	a.Procs.SignalAll(syscall.SIGKILL)
	a.Close()
}

// Close stops the reaper and the pruner.
func (a *Agent) Close() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.Reaper.Stop()
}
