// Package reaper collects the exit status of every child of the agent (and,
// as PID 1 or a subreaper, of every orphan) with one wait4(-1) loop driven by
// SIGCHLD, and hands each status to whoever registered that pid.
//
// Race-freedom: Spawn holds the reaper lock across fork+exec and registration,
// and the loop holds it while calling wait4, so a child can never be reaped
// before its pid is registered. A status for an unregistered pid (an orphan)
// is kept as pending for a while and then dropped; a pending status found at
// registration time belongs to an earlier holder of the pid and is discarded.
package reaper

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// pendingTTL is how long the status of an unregistered pid is kept.
const pendingTTL = time.Minute

// maxPending bounds the pending map even if orphans exit in bulk.
const maxPending = 4096

// pollInterval re-runs the wait loop even without SIGCHLD, in case a signal
// was coalesced or missed.
const pollInterval = 2 * time.Second

type pendingStatus struct {
	status syscall.WaitStatus
	at     time.Time
}

// Reaper dispatches wait4 results to registered pids.
type Reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	pending map[int]pendingStatus
	sigs    chan os.Signal
	stop    chan struct{}
	once    sync.Once
}

// New returns a reaper that is not yet running; call Run or Start.
func New() *Reaper {
	return &Reaper{
		waiters: map[int]chan syscall.WaitStatus{},
		pending: map[int]pendingStatus{},
		sigs:    make(chan os.Signal, 1),
		stop:    make(chan struct{}),
	}
}

// Start subscribes to SIGCHLD and runs the loop in a goroutine.
func (r *Reaper) Start() {
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
}

// Stop ends the loop.
func (r *Reaper) Stop() {
	r.once.Do(func() {
		signal.Stop(r.sigs)
		close(r.stop)
	})
}

func (r *Reaper) loop() {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		r.ReapOnce()
		select {
		case <-r.sigs:
		case <-t.C:
		case <-r.stop:
			return
		}
	}
}

// ReapOnce collects every child status available now and dispatches it.
func (r *Reaper) ReapOnce() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		r.dispatchLocked(pid, ws)
	}
	r.prunePendingLocked(time.Now())
}

func (r *Reaper) dispatchLocked(pid int, ws syscall.WaitStatus) {
	if ch, ok := r.waiters[pid]; ok {
		delete(r.waiters, pid)
		ch <- ws // buffered, never blocks
		close(ch)
		return
	}
	r.pending[pid] = pendingStatus{status: ws, at: time.Now()}
}

func (r *Reaper) prunePendingLocked(now time.Time) {
	for pid, p := range r.pending {
		if now.Sub(p.at) > pendingTTL {
			delete(r.pending, pid)
		}
	}
	for len(r.pending) > maxPending {
		oldest, first := 0, true
		var at time.Time
		for pid, p := range r.pending {
			if first || p.at.Before(at) {
				oldest, at, first = pid, p.at, false
			}
		}
		delete(r.pending, oldest)
	}
}

// Spawn runs start (which must fork+exec and return the child's pid) with the
// reaper locked, registers the pid, and returns a channel that receives the
// child's wait status once.
func (r *Reaper) Spawn(start func() (int, error)) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	return pid, r.registerLocked(pid, true), nil
}

// Register returns a channel for pid's status. A pending status for pid is
// delivered at once: use this for children started outside Spawn, where the
// status may legitimately arrive before registration.
func (r *Reaper) Register(pid int) <-chan syscall.WaitStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registerLocked(pid, false)
}

func (r *Reaper) registerLocked(pid int, discardPending bool) chan syscall.WaitStatus {
	ch := make(chan syscall.WaitStatus, 1)
	if p, ok := r.pending[pid]; ok {
		delete(r.pending, pid)
		if !discardPending {
			ch <- p.status
			close(ch)
			return ch
		}
	}
	r.waiters[pid] = ch
	return ch
}

// PendingCount reports how many unclaimed statuses are held (for tests).
func (r *Reaper) PendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
