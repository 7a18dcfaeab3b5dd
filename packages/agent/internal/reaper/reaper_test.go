package reaper

import (
	"sync"
	"syscall"
	"testing"
	"time"
)

func forkSh(script string) (int, error) {
	return syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, &syscall.ProcAttr{Env: []string{"PATH=/usr/bin:/bin"}})
}

func waitStatus(t *testing.T, ch <-chan syscall.WaitStatus) syscall.WaitStatus {
	t.Helper()
	select {
	case ws := <-ch:
		return ws
	case <-time.After(10 * time.Second):
		t.Fatal("no status delivered")
	}
	return 0
}

func TestSpawnDeliversExitStatus(t *testing.T) {
	r := New()
	r.Start()
	defer r.Stop()
	pid, ch, err := r.Spawn(func() (int, error) { return forkSh("exit 7") })
	if err != nil || pid <= 0 {
		t.Fatalf("spawn: %d %v", pid, err)
	}
	if ws := waitStatus(t, ch); !ws.Exited() || ws.ExitStatus() != 7 {
		t.Fatalf("status = %v", ws)
	}
}

func TestManyChildrenConcurrently(t *testing.T) {
	r := New()
	r.Start()
	defer r.Stop()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(code int) {
			defer wg.Done()
			_, ch, err := r.Spawn(func() (int, error) { return forkSh("exit " + string(rune('0'+code%10))) })
			if err != nil {
				t.Error(err)
				return
			}
			if ws := waitStatus(t, ch); ws.ExitStatus() != code%10 {
				t.Errorf("child %d: status %d", code, ws.ExitStatus())
			}
		}(i)
	}
	wg.Wait()
}

func TestExitBeforeRegisterIsKept(t *testing.T) {
	r := New() // loop not running: reap by hand
	pid, err := forkSh("exit 3")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.PendingCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r.ReapOnce()
	}
	if r.PendingCount() != 1 {
		t.Fatalf("pending = %d", r.PendingCount())
	}
	if ws := waitStatus(t, r.Register(pid)); ws.ExitStatus() != 3 {
		t.Fatalf("status = %v", ws)
	}
	if r.PendingCount() != 0 {
		t.Fatal("pending status not consumed")
	}
}

func TestSpawnDiscardsStalePending(t *testing.T) {
	r := New()
	r.pending[4242] = pendingStatus{status: 0, at: time.Now()}
	_, ch, err := r.Spawn(func() (int, error) { return 4242, nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ws := <-ch:
		t.Fatalf("stale status %v delivered to a new process", ws)
	default:
	}
	r.mu.Lock()
	r.dispatchLocked(4242, syscall.WaitStatus(5<<8))
	r.mu.Unlock()
	if ws := waitStatus(t, ch); ws.ExitStatus() != 5 {
		t.Fatalf("status = %v", ws)
	}
}

func TestPendingIsBounded(t *testing.T) {
	r := New()
	r.pending[1] = pendingStatus{at: time.Now().Add(-2 * pendingTTL)}
	for i := 0; i < maxPending+10; i++ {
		r.pending[100000+i] = pendingStatus{at: time.Now().Add(time.Duration(i) * time.Millisecond)}
	}
	r.ReapOnce()
	if _, ok := r.pending[1]; ok {
		t.Fatal("expired pending status kept")
	}
	if r.PendingCount() != maxPending {
		t.Fatalf("pending = %d, want %d", r.PendingCount(), maxPending)
	}
	if _, ok := r.pending[100000]; ok {
		t.Fatal("oldest pending status kept over the bound")
	}
}
