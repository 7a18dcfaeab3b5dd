package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"burrow/agent/internal/connect"
)

const (
	pStart   = "/process.Process/Start"
	pConnect = "/process.Process/Connect"
	pList    = "/process.Process/List"
	pInput   = "/process.Process/SendInput"
	pSignal  = "/process.Process/SendSignal"
	pClose   = "/process.Process/CloseStdin"
	pUpdate  = "/process.Process/Update"
)

func TestStartOutputAndExitCode(t *testing.T) {
	s := openStream(t, pStart, startMsg("/bin/sh", "-c", "echo hi; echo err >&2; exit 3"), nil)
	if pid := s.startPid(t); pid == 0 {
		t.Fatal("pid is 0")
	}
	r := s.drain(t)
	if r.stdout.String() != "hi\n" || r.stderr.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", r.stdout.String(), r.stderr.String())
	}
	end := r.end.Event.End
	if end.ExitCode != 3 || !end.Exited || end.Status != "exit status 3" || end.Error == nil {
		t.Fatalf("end = %+v", end)
	}
	if r.trailer != "{}" {
		t.Fatalf("end-stream = %s", r.trailer)
	}
}

func TestStartRunsAsUserInHome(t *testing.T) {
	msg := startMsg("/bin/sh", "-c", `echo "$HOME|$USER|$(pwd)|$FOO"`)
	msg["process"].(map[string]interface{})["envs"] = map[string]string{"FOO": "bar"}
	s := openStream(t, pStart, msg, nil)
	s.startPid(t)
	r := s.drain(t)
	if want := home + "|tester|" + home + "|bar\n"; r.stdout.String() != want {
		t.Fatalf("got %q, want %q", r.stdout.String(), want)
	}
}

func TestMissingCommandEndsWith127(t *testing.T) {
	s := openStream(t, pStart, startMsg("/bin/nonexistent"), nil)
	s.startPid(t)
	r := s.drain(t)
	if r.end == nil || r.end.Event.End.ExitCode != 127 || r.end.Event.End.Error == nil {
		t.Fatalf("end = %+v (stderr %q)", r.end, r.stderr.String())
	}
	s = openStream(t, pStart, startMsg("/bin/sh", "-c", "nonexistent-command-xyz"), nil)
	s.startPid(t)
	if r := s.drain(t); r.end.Event.End.ExitCode != 127 {
		t.Fatalf("shell: exit %d", r.end.Event.End.ExitCode)
	}
}

func TestStdinRoundTrip(t *testing.T) {
	msg := startMsg("cat")
	msg["stdin"] = true
	s := openStream(t, pStart, msg, nil)
	pid := s.startPid(t)
	mustUnary(t, pInput, map[string]interface{}{
		"process": pidSel(pid), "input": map[string]interface{}{"stdin": base64.StdEncoding.EncodeToString([]byte("hello\n"))},
	}, nil)
	s.readUntil(t, "hello\n")
	mustUnary(t, pClose, map[string]interface{}{"process": pidSel(pid)}, nil)
	if r := s.drain(t); r.end == nil || r.end.Event.End.ExitCode != 0 {
		t.Fatalf("cat did not exit 0: %+v", r.end)
	}
}

func TestStdinDisabledGivesEOF(t *testing.T) {
	msg := startMsg("cat")
	msg["stdin"] = false
	s := openStream(t, pStart, msg, nil)
	s.startPid(t)
	if r := s.drain(t); r.end.Event.End.ExitCode != 0 {
		t.Fatalf("cat without stdin: %+v", r.end.Event.End)
	}
}

func TestStreamInputClientStreaming(t *testing.T) {
	msg := startMsg("cat")
	msg["stdin"] = true
	s := openStream(t, pStart, msg, nil)
	pid := s.startPid(t)
	var body []byte
	for _, m := range []string{
		`{"start":{"process":{"pid":` + jsonNum(pid) + `}}}`,
		`{"keepalive":{}}`,
		`{"data":{"input":{"stdin":"` + base64.StdEncoding.EncodeToString([]byte("streamed\n")) + `"}}}`,
	} {
		body = connect.AppendEnvelope(body, 0, []byte(m))
	}
	resp, err := http.DefaultClient.Do(newRequest(t, http.MethodPost, "/process.Process/StreamInput", "application/connect+json", bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.HasSuffix(raw, []byte("{}")) || bytes.Contains(raw, []byte("error")) {
		t.Fatalf("StreamInput: %d %q", resp.StatusCode, raw)
	}
	s.readUntil(t, "streamed\n")
	mustUnary(t, pClose, map[string]interface{}{"process": pidSel(pid)}, nil)
	s.drain(t)
}

func jsonNum(n uint32) string { b, _ := json.Marshal(n); return string(b) }

func TestPTYSession(t *testing.T) {
	msg := startMsg("/bin/sh")
	msg["pty"] = map[string]interface{}{"size": map[string]int{"cols": 80, "rows": 24}}
	s := openStream(t, pStart, msg, nil)
	pid := s.startPid(t)
	send := func(text string) {
		mustUnary(t, pInput, map[string]interface{}{
			"process": pidSel(pid), "input": map[string]interface{}{"pty": base64.StdEncoding.EncodeToString([]byte(text))},
		}, nil)
	}
	send("echo $((6*7))\n")
	s.readUntil(t, "42")
	mustUnary(t, pUpdate, map[string]interface{}{"process": pidSel(pid), "pty": map[string]interface{}{"size": map[string]int{"cols": 100, "rows": 30}}}, nil)
	send("stty size; echo $TERM\n")
	if out := s.readUntil(t, "xterm-256color"); !strings.Contains(out, "30 100") {
		t.Fatalf("stty size after resize: %q", out)
	}
	// stdin input and CloseStdin are refused for a pty process.
	status, body := unary(t, pClose, map[string]interface{}{"process": pidSel(pid)})
	if status != 400 || connectCode(body) != "failed_precondition" {
		t.Fatalf("CloseStdin on pty: %d %s", status, body)
	}
	send("exit\n")
	r := s.drain(t)
	if r.end == nil || r.end.Event.End.ExitCode != 0 {
		t.Fatalf("pty end = %+v", r.end)
	}
}

func TestReconnectReplaysOutput(t *testing.T) {
	msg := startMsg("/bin/sh", "-c", "echo one; sleep 1; echo two")
	msg["tag"] = "reconnect-test"
	s := openStream(t, pStart, msg, nil)
	pid := s.startPid(t)
	s.readUntil(t, "one\n")
	s.close() // the client goes away; the process keeps running

	c := openStream(t, pConnect, map[string]interface{}{"process": pidSel(pid)}, nil)
	if got := c.startPid(t); got != pid {
		t.Fatalf("connect start pid %d, want %d", got, pid)
	}
	r := c.drain(t)
	if r.stdout.String() != "one\ntwo\n" || r.end == nil || r.end.Event.End.ExitCode != 0 {
		t.Fatalf("reconnect got %q end %+v", r.stdout.String(), r.end)
	}
	// After exit, by tag: the output and status are still there.
	c = openStream(t, pConnect, map[string]interface{}{"process": map[string]string{"tag": "reconnect-test"}}, nil)
	c.startPid(t)
	if r := c.drain(t); r.stdout.String() != "one\ntwo\n" || r.end == nil {
		t.Fatalf("connect after exit got %q end %+v", r.stdout.String(), r.end)
	}
	status, body := unary(t, pInput, map[string]interface{}{"process": pidSel(pid), "input": map[string]string{"stdin": ""}})
	if status != 404 || connectCode(body) != "not_found" {
		t.Fatalf("input to exited process: %d %s", status, body)
	}
}

func TestKillAndList(t *testing.T) {
	msg := startMsg("sleep", "30")
	msg["tag"] = "sleeper"
	s := openStream(t, pStart, msg, nil)
	pid := s.startPid(t)
	var list struct {
		Processes []struct {
			Pid    uint32
			Tag    string
			Config struct{ Cmd string }
		}
	}
	mustUnary(t, pList, map[string]interface{}{}, &list)
	found := false
	for _, p := range list.Processes {
		found = found || (p.Pid == pid && p.Tag == "sleeper" && p.Config.Cmd == "sleep")
	}
	if !found {
		t.Fatalf("pid %d not listed: %+v", pid, list)
	}
	mustUnary(t, pSignal, map[string]interface{}{"process": map[string]string{"tag": "sleeper"}, "signal": "SIGNAL_SIGKILL"}, nil)
	r := s.drain(t)
	end := r.end.Event.End
	if end.ExitCode != -1 || end.Exited || end.Status != "signal: killed" {
		t.Fatalf("end = %+v", end)
	}
	status, body := unary(t, pSignal, map[string]interface{}{"process": pidSel(pid), "signal": "SIGNAL_SIGKILL"})
	if status != 404 || connectCode(body) != "not_found" {
		t.Fatalf("second kill: %d %s", status, body)
	}
}

func TestKeepaliveAndTimeout(t *testing.T) {
	start := time.Now()
	s := openStream(t, pStart, startMsg("sleep", "30"), map[string]string{
		"Keepalive-Ping-Interval": "1", "Connect-Timeout-Ms": "2500",
	})
	s.startPid(t)
	r := s.drain(t)
	if r.keepalives == 0 {
		t.Fatal("no keepalive event")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("timeout not enforced: %s", time.Since(start))
	}
	if r.end == nil && !strings.Contains(r.trailer, "deadline_exceeded") {
		t.Fatalf("neither end event nor deadline error: %s", r.trailer)
	}
}

func TestProcessBadInput(t *testing.T) {
	s := openStream(t, pStart, map[string]interface{}{"process": map[string]string{}}, nil)
	if e := s.next(t); e.flags != connect.FlagEndStream || !strings.Contains(string(e.data), "invalid_argument") {
		t.Fatalf("start without cmd: %d %s", e.flags, e.data)
	}
	msg := startMsg("true")
	msg["process"].(map[string]interface{})["cwd"] = "/does/not/exist"
	s = openStream(t, pStart, msg, nil)
	if e := s.next(t); !strings.Contains(string(e.data), "invalid_argument") {
		t.Fatalf("bad cwd: %s", e.data)
	}
	status, body := unary(t, pSignal, map[string]interface{}{"process": pidSel(999999), "signal": 9})
	if status != 404 || connectCode(body) != "not_found" {
		t.Fatalf("unknown pid: %d %s", status, body)
	}
	status, body = unary(t, pSignal, map[string]interface{}{"process": pidSel(1), "signal": "SIGNAL_NOPE"})
	if status != 400 || connectCode(body) != "invalid_argument" {
		t.Fatalf("bad enum: %d %s", status, body)
	}
	req := newRequest(t, http.MethodPost, pList, "application/json", strings.NewReader("{"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("malformed JSON: %d", resp.StatusCode)
	}
	req = newRequest(t, http.MethodPost, pStart, "application/connect+json", bytes.NewReader(connect.AppendEnvelope(nil, 0, []byte(`{"process":{"cmd":"true"}}`))))
	req.SetBasicAuth("nobody-here", "")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(raw, []byte("unauthenticated")) {
		t.Fatalf("unknown user: %q", raw)
	}
}

func TestOutputIsBoundedAndProcessNeverBlocks(t *testing.T) {
	msg := startMsg("/bin/sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' 'a'; echo; echo done >&2")
	msg["tag"] = "flood"
	s := openStream(t, pStart, msg, nil)
	pid := s.startPid(t)
	s.close() // nobody reads while it runs

	deadline := time.Now().Add(20 * time.Second)
	for {
		var list struct{ Processes []struct{ Pid uint32 } }
		mustUnary(t, pList, map[string]interface{}{}, &list)
		running := false
		for _, p := range list.Processes {
			running = running || p.Pid == pid
		}
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the process blocked on its output")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := openStream(t, pConnect, map[string]interface{}{"process": pidSel(pid)}, nil)
	c.startPid(t)
	r := c.drain(t)
	total := r.stdout.Len() + r.stderr.Len()
	if total > 1<<20 || total < 1<<19 || r.stderr.String() != "done\n" || r.end == nil || r.end.Event.End.ExitCode != 0 {
		t.Fatalf("replayed %d bytes (stderr %q), end %+v", total, r.stderr.String(), r.end)
	}
}

func TestBackgroundChildDoesNotHoldTheStream(t *testing.T) {
	start := time.Now()
	s := openStream(t, pStart, startMsg("/bin/sh", "-c", "sleep 2 & echo hi"), nil)
	s.startPid(t)
	r := s.drain(t)
	if r.stdout.String() != "hi\n" || r.end == nil || r.end.Event.End.ExitCode != 0 {
		t.Fatalf("got %q end %+v", r.stdout.String(), r.end)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("end event waited %s for the background child", d)
	}
}

func TestSlowLiveReaderLosesNothing(t *testing.T) {
	b, _ := json.Marshal(startMsg("seq", "1", "1000000"))
	req := newRequest(t, http.MethodPost, pStart, "application/connect+json", bytes.NewReader(connect.AppendEnvelope(nil, 0, b)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read nothing for a while: far more output than the ring holds is produced.
	time.Sleep(1500 * time.Millisecond)
	var got strings.Builder
	var end *procEvent
	for {
		f, p, err := connect.ReadEnvelope(resp.Body, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if f&connect.FlagEndStream != 0 {
			break
		}
		var ev procEvent
		if err := json.Unmarshal(p, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Event.Data != nil {
			got.Write(ev.Event.Data.Stdout)
		}
		if ev.Event.End != nil {
			end = &ev
		}
	}
	var want strings.Builder
	for i := 1; i <= 1000000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	if got.Len() != want.Len() || got.String() != want.String() {
		t.Fatalf("got %d bytes, want %d", got.Len(), want.Len())
	}
	if end == nil || end.Event.End.ExitCode != 0 {
		t.Fatalf("end = %+v", end)
	}
}
