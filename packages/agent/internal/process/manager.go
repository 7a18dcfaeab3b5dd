package process

import (
	"sort"
	"sync"
	"syscall"
	"time"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/reaper"
	"burrow/agent/internal/wire"
)

// Retention of exited processes, so a client can still Connect to read the
// output it missed and the exit status: the most recent MaxExited processes,
// each for at most ExitedTTL, and at most ExitedOutputBytes of their output in
// total (beyond that the oldest outputs are released; the statuses stay).
const (
	MaxExited         = 256
	ExitedTTL         = 10 * time.Minute
	ExitedOutputBytes = 32 << 20
)

// Manager owns every process started through the API.
type Manager struct {
	reaper *reaper.Reaper
	logf   func(format string, args ...interface{})

	mu     sync.Mutex
	procs  map[int]*Process // running and retained exited, by pid
	exited []*Process       // retained exited, oldest first
	now    func() time.Time
}

// NewManager returns a manager that spawns through r.
func NewManager(r *reaper.Reaper, logf func(format string, args ...interface{})) *Manager {
	return &Manager{reaper: r, logf: logf, procs: map[int]*Process{}, now: time.Now}
}

func (m *Manager) recoverGoroutine(what string) {
	if p := recover(); p != nil {
		m.logf("panic in %s: %v at %s", what, p, connect.PanicLocation())
	}
}

func (m *Manager) register(p *Process) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.procs[p.Pid]; ok {
		m.dropExitedLocked(old)
	}
	m.procs[p.Pid] = p
}

func (m *Manager) onExit(p *Process) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.procs[p.Pid] != p {
		return
	}
	m.exited = append(m.exited, p)
	m.pruneLocked()
}

func (m *Manager) dropExitedLocked(p *Process) {
	for i, q := range m.exited {
		if q == p {
			m.exited = append(m.exited[:i], m.exited[i+1:]...)
			break
		}
	}
	p.out.Release()
}

// Prune applies the retention limits; it also runs on every exit.
func (m *Manager) Prune() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked()
}

func (m *Manager) pruneLocked() {
	now := m.now()
	for len(m.exited) > 0 {
		p := m.exited[0]
		old := now.Sub(p.exitTime()) > ExitedTTL
		if len(m.exited) <= MaxExited && !old {
			break
		}
		m.exited = m.exited[1:]
		if m.procs[p.Pid] == p {
			delete(m.procs, p.Pid)
		}
		p.out.Release()
	}
	total := 0
	for _, p := range m.exited {
		total += p.out.Size()
	}
	for _, p := range m.exited {
		if total <= ExitedOutputBytes {
			break
		}
		total -= p.out.Size()
		p.out.Release()
	}
}

// RunPruner prunes once a minute until stop is closed.
func (m *Manager) RunPruner(stop <-chan struct{}) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Prune()
		case <-stop:
			return
		}
	}
}

// Find returns the process the selector names, running or retained exited.
// A tag matches a running process first, then the latest exited one.
func (m *Manager) Find(sel *wire.ProcessSelector) (*Process, error) {
	if sel == nil || (sel.Pid == nil && sel.Tag == nil) {
		return nil, connect.Errorf(connect.InvalidArgument, "process selector needs a pid or a tag")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sel.Pid != nil {
		if p, ok := m.procs[int(*sel.Pid)]; ok {
			return p, nil
		}
		return nil, connect.Errorf(connect.NotFound, "process with pid %d not found", *sel.Pid)
	}
	tag := *sel.Tag
	for _, p := range m.procs {
		if p.Tag != nil && *p.Tag == tag && !p.Exited() {
			return p, nil
		}
	}
	for i := len(m.exited) - 1; i >= 0; i-- {
		if p := m.exited[i]; p.Tag != nil && *p.Tag == tag {
			return p, nil
		}
	}
	return nil, connect.Errorf(connect.NotFound, "process with tag %q not found", tag)
}

// FindRunning is Find for operations that need a live process.
func (m *Manager) FindRunning(sel *wire.ProcessSelector) (*Process, error) {
	p, err := m.Find(sel)
	if err != nil {
		return nil, err
	}
	if p.Exited() {
		return nil, connect.Errorf(connect.NotFound, "process %d has already exited", p.Pid)
	}
	return p, nil
}

// Running lists the processes that have not exited, by pid.
func (m *Manager) Running() []*Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Process
	for _, p := range m.procs {
		if !p.Exited() {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}

// SignalAll sends sig to every running process (used at shutdown).
func (m *Manager) SignalAll(sig syscall.Signal) {
	for _, p := range m.Running() {
		_ = p.Signal(sig)
	}
}
