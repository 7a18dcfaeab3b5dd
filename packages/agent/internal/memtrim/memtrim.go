// Package memtrim hands the agent's unused memory back to the sandbox
// whenever its last HTTP connection closes. The server closes every
// connection to the agent right before it checkpoints the sandbox
// (hibernation, full checkpoints), so this keeps the agent's garbage out of
// the memory image: without it the image grew with every command the agent
// had served, and hibernation and wake slowed down cycle after cycle.
package memtrim

import (
	"net"
	"net/http"
	"runtime/debug"
	"sync"
)

// Trimmer counts open connections and trims when the count drops to zero.
type Trimmer struct {
	mu      sync.Mutex
	open    int
	running bool
	again   bool
	trim    func()
	// Trims counts the trims run (tests).
	Trims int
}

// New returns a Trimmer that runs trim (debug.FreeOSMemory when nil).
func New(trim func()) *Trimmer {
	if trim == nil {
		trim = debug.FreeOSMemory
	}
	return &Trimmer{trim: trim}
}

// ConnState is an http.Server ConnState hook.
func (t *Trimmer) ConnState(_ net.Conn, state http.ConnState) {
	t.mu.Lock()
	switch state {
	case http.StateNew:
		t.open++
	case http.StateClosed, http.StateHijacked:
		t.open--
		if t.open <= 0 {
			t.open = 0
			t.startLocked()
		}
	}
	t.mu.Unlock()
}

// startLocked runs one trim in the background; a request while one runs
// makes it run once more afterwards.
func (t *Trimmer) startLocked() {
	if t.running {
		t.again = true
		return
	}
	t.running = true
	go func() {
		for {
			t.trim()
			t.mu.Lock()
			t.Trims++
			if !t.again {
				t.running = false
				t.mu.Unlock()
				return
			}
			t.again = false
			t.mu.Unlock()
		}
	}()
}

// Idle reports whether no trim is running (tests).
func (t *Trimmer) Idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.running
}
