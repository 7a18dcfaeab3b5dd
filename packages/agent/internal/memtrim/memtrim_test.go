package memtrim

import (
	"net/http"
	"testing"
	"time"
)

func waitIdle(t *testing.T, tr *Trimmer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !tr.Idle() {
		if time.Now().After(deadline) {
			t.Fatal("trim did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTrimsWhenTheLastConnectionCloses(t *testing.T) {
	calls := make(chan struct{}, 10)
	tr := New(func() { calls <- struct{}{} })
	tr.ConnState(nil, http.StateNew)
	tr.ConnState(nil, http.StateNew)
	tr.ConnState(nil, http.StateActive)
	tr.ConnState(nil, http.StateClosed)
	if len(calls) != 0 {
		t.Fatal("trimmed while a connection was still open")
	}
	tr.ConnState(nil, http.StateHijacked)
	<-calls
	waitIdle(t, tr)
	if tr.Trims != 1 {
		t.Fatalf("trims = %d, want 1", tr.Trims)
	}
}

func TestATrimRequestedWhileOneRunsRunsOnceMore(t *testing.T) {
	release := make(chan struct{})
	tr := New(func() { <-release })
	for i := 0; i < 3; i++ {
		tr.ConnState(nil, http.StateNew)
		tr.ConnState(nil, http.StateClosed)
	}
	close(release)
	waitIdle(t, tr)
	if tr.Trims != 2 {
		t.Fatalf("trims = %d, want 2 (one running, one coalesced)", tr.Trims)
	}
}
