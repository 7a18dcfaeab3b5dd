package process

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"burrow/agent/internal/ringbuf"
	"burrow/agent/internal/users"
	"burrow/agent/internal/wire"
)

func TestEndFromStatus(t *testing.T) {
	ok := endFromStatus(syscall.WaitStatus(0))
	if ok.ExitCode != 0 || !ok.Exited || ok.Status != "exit status 0" || ok.Error != nil {
		t.Fatalf("exit 0 = %+v", ok)
	}
	three := endFromStatus(syscall.WaitStatus(3 << 8))
	if three.ExitCode != 3 || !three.Exited || three.Error == nil || *three.Error != "exit status 3" {
		t.Fatalf("exit 3 = %+v", three)
	}
	killed := endFromStatus(syscall.WaitStatus(syscall.SIGKILL))
	if killed.ExitCode != -1 || killed.Exited || killed.Status != "signal: killed" || killed.Error == nil {
		t.Fatalf("killed = %+v", killed)
	}
}

func TestBuildEnvPrecedence(t *testing.T) {
	u := &users.User{Name: "alice", Home: "/home/alice", Shell: "/bin/zsh"}
	env, err := BuildEnv(u, map[string]string{"A": "sandbox", "B": "sandbox", "LANG": "de_DE.UTF-8"}, map[string]string{"B": "request"}, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice", "SHELL": "/bin/zsh",
		"LANG": "de_DE.UTF-8", "TERM": "xterm-256color", "A": "sandbox", "B": "request"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["PATH"] == "" {
		t.Error("PATH missing")
	}
	if _, err := BuildEnv(u, nil, map[string]string{"A=B": "x"}, false); err == nil {
		t.Error("key with '=' accepted")
	}
	env, _ = BuildEnv(u, nil, nil, false)
	for _, kv := range env {
		if strings.HasPrefix(kv, "TERM=") {
			t.Error("TERM set without pty")
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/nonexistent:" + dir}
	if p, err := lookPath("tool", env, "/"); err != nil || p != exe {
		t.Fatalf("lookPath tool = %q %v", p, err)
	}
	if _, err := lookPath("missing", env, "/"); execExitCode(err) != 127 {
		t.Fatalf("missing: %v", err)
	}
	if _, err := lookPath("plain", env, "/"); execExitCode(err) != 126 {
		t.Fatalf("not executable: %v", err)
	}
	if p, _ := lookPath("./rel/x", env, "/"); p != "./rel/x" {
		t.Fatalf("path with slash changed: %q", p)
	}
}

func TestDataEventsMergeByKind(t *testing.T) {
	evs := dataEvents([]ringbuf.Chunk{
		{Kind: ringbuf.Stdout, Data: []byte("a")}, {Kind: ringbuf.Stdout, Data: []byte("b")},
		{Kind: ringbuf.Stderr, Data: []byte("c")}, {Kind: ringbuf.Stdout, Data: []byte("d")},
	})
	if len(evs) != 3 {
		t.Fatalf("events = %d", len(evs))
	}
	first := evs[0].(wire.StreamResponse).Event.Data
	if string(first.Stdout) != "ab" {
		t.Fatalf("merged stdout = %q", first.Stdout)
	}
	if string(evs[1].(wire.StreamResponse).Event.Data.Stderr) != "c" {
		t.Fatal("stderr event wrong")
	}
}

func TestFailedProcessReports127(t *testing.T) {
	p := failedProcess(Spec{Argv: []string{"/bin/nonexistent"}}, 127, syscall.ENOENT)
	end, _, ended := p.endState()
	if !ended || end.ExitCode != 127 || end.Error == nil {
		t.Fatalf("end = %+v ended %v", end, ended)
	}
	chunks, _ := p.out.NewReader(0).Read(1 << 20)
	if len(chunks) != 1 || !strings.Contains(string(chunks[0].Data), "/bin/nonexistent") {
		t.Fatalf("stderr = %+v", chunks)
	}
	if err := p.Signal(syscall.SIGKILL); err == nil {
		t.Fatal("signal to a stand-in process succeeded")
	}
}

func exitedProcess(pid int, tag string, out int) *Process {
	var tp *string
	if tag != "" {
		tp = &tag
	}
	p := newProcess(pid, tp, wire.ProcessConfig{Cmd: "x"})
	p.out.Append(ringbuf.Stdout, make([]byte, out))
	p.finish(wire.EndEvent{Exited: true})
	return p
}

func TestRetentionLimits(t *testing.T) {
	m := NewManager(nil, t.Logf)
	for i := 1; i <= MaxExited+5; i++ {
		p := exitedProcess(i, "", 10)
		m.register(p)
		m.onExit(p)
	}
	if len(m.exited) != MaxExited || len(m.procs) != MaxExited {
		t.Fatalf("kept %d exited, %d procs", len(m.exited), len(m.procs))
	}
	one := uint32(1)
	if _, err := m.Find(&wire.ProcessSelector{Pid: (*wire.U32)(&one)}); err == nil {
		t.Fatal("oldest exited process still found")
	}
	// Expired by age.
	m.now = func() time.Time { return time.Now().Add(ExitedTTL + time.Minute) }
	m.Prune()
	if len(m.exited) != 0 || len(m.procs) != 0 {
		t.Fatalf("after TTL: %d exited", len(m.exited))
	}
}

func TestRetainedOutputBudget(t *testing.T) {
	m := NewManager(nil, t.Logf)
	var ps []*Process
	for i := 1; i <= 40; i++ {
		p := exitedProcess(i, "t", OutputBufferBytes)
		ps = append(ps, p)
		m.register(p)
		m.onExit(p)
	}
	total := 0
	for _, p := range m.exited {
		total += p.out.Size()
	}
	if total > ExitedOutputBytes {
		t.Fatalf("retained output %d > %d", total, ExitedOutputBytes)
	}
	if ps[0].out.Size() != 0 || ps[39].out.Size() != OutputBufferBytes {
		t.Fatal("budget should release the oldest outputs first")
	}
	tag := "t"
	p, err := m.Find(&wire.ProcessSelector{Tag: &tag})
	if err != nil || p != ps[39] {
		t.Fatalf("tag lookup = %v %v", p, err)
	}
	if _, err := m.FindRunning(&wire.ProcessSelector{Tag: &tag}); err == nil {
		t.Fatal("exited process found as running")
	}
}
