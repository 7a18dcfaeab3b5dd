package fsys

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/users"
)

// asUser runs fn with u's credentials (uid, gid and supplementary groups), so
// the kernel checks every file access in fn as it would for u's own programs
// (like `cat` run as u). fn runs on a worker: a goroutine locked to an OS
// thread whose credentials were changed with raw syscalls (that thread alone;
// Go's syscall.Setresuid would change every thread of the agent). A worker
// never unlocks its thread, so when it ends the Go runtime ends the thread:
// no other goroutine ever runs with u's credentials, and the agent's other
// threads stay root. Idle workers are kept a while per identity, so a file
// operation does not pay for a new thread each time (measured in gVisor: a
// new thread per operation costs ~1 ms). Root, or an agent that is not root
// (tests), runs fn as it is.
func asUser(u *users.User, fn func() error) error {
	if u == nil || u.UID == 0 || os.Geteuid() != 0 {
		return fn()
	}
	key := identity(u)
	w := workers.take(key)
	if w == nil {
		var err error
		if w, err = startWorker(u, key); err != nil {
			return connect.Errorf(connect.Internal, "switch to user %s: %v", u.Name, err)
		}
	}
	done := make(chan error, 1)
	w.jobs <- func() (ok bool) {
		defer func() {
			if p := recover(); p != nil {
				done <- connect.Errorf(connect.Internal, "file operation as %s failed: %v", u.Name, p)
				ok = false
			}
		}()
		done <- fn()
		return true
	}
	return <-done
}

const (
	workerIdleTime     = 10 * time.Second
	maxIdlePerIdentity = 4
)

// worker runs jobs on its thread; a job reports false when the thread must go.
type worker struct{ jobs chan func() bool }

// workerPool holds idle workers by identity.
type workerPool struct {
	mu   sync.Mutex
	idle map[string][]*worker
}

var workers = &workerPool{idle: map[string][]*worker{}}

// take removes and returns an idle worker for key, or nil.
func (p *workerPool) take(key string) *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := p.idle[key]
	if len(ws) == 0 {
		return nil
	}
	w := ws[len(ws)-1]
	p.idle[key] = ws[:len(ws)-1]
	return w
}

// put makes w idle again; false when enough workers of key are idle.
func (p *workerPool) put(key string, w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[key]) >= maxIdlePerIdentity {
		return false
	}
	p.idle[key] = append(p.idle[key], w)
	return true
}

// remove takes w out of the idle list; false when a caller took it first
// (and is about to hand it a job).
func (p *workerPool) remove(key string, w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := p.idle[key]
	for i, x := range ws {
		if x == w {
			p.idle[key] = append(ws[:i], ws[i+1:]...)
			if len(p.idle[key]) == 0 {
				delete(p.idle, key)
			}
			return true
		}
	}
	return false
}

// identity is the credentials a worker has.
func identity(u *users.User) string {
	return fmt.Sprint(u.UID, ":", u.GID, ":", u.Groups)
}

// startWorker starts a worker with u's credentials and waits until it has them.
func startWorker(u *users.User, key string) (*worker, error) {
	w := &worker{jobs: make(chan func() bool)}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := setThreadCredentials(u); err != nil {
			ready <- err
			return
		}
		ready <- nil
		idle := time.NewTimer(workerIdleTime)
		defer idle.Stop()
		for {
			select {
			case job := <-w.jobs:
				if !job() || !workers.put(key, w) {
					return
				}
				if !idle.Stop() {
					select {
					case <-idle.C:
					default:
					}
				}
				idle.Reset(workerIdleTime)
			case <-idle.C:
				if workers.remove(key, w) {
					return
				}
				// Taken by a caller meanwhile: its job is on the way.
				idle.Reset(workerIdleTime)
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return w, nil
}

// setThreadCredentials gives the calling thread u's groups, gid and uid (all
// of real, effective and saved, which also drops the thread's capabilities).
func setThreadCredentials(u *users.User) error {
	groups := append([]uint32{u.GID}, u.Groups...)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	gid, uid := uintptr(u.GID), uintptr(u.UID)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, gid, gid, gid); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uid, uid, uid); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	return nil
}
