package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/server"
)

// One agent serves every test: its reaper waits for all children of the test
// binary, so two agents in one process would steal each other's exits.
var (
	agent *server.Agent
	srv   *httptest.Server
	home  string // home directory of the test user

	// otherHome is the home of "other" (uid/gid otherID), a user without
	// privileges the file permission tests act as when the tests run as root.
	otherHome string
	testDir   string
)

const otherID = 64123

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "burrow-agent-test-")
	if err != nil {
		panic(err)
	}
	testDir = dir
	home = filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		panic(err)
	}
	otherHome = filepath.Join(dir, "other")
	if err := os.MkdirAll(otherHome, 0o755); err != nil {
		panic(err)
	}
	if os.Geteuid() == 0 {
		_ = os.Chmod(dir, 0o755)
		_ = os.Chown(otherHome, otherID, otherID)
	}
	// The test user is whoever runs the tests, so nothing depends on the host's accounts.
	pw := fmt.Sprintf("tester:x:%d:%d:tester:%s:/bin/sh\nother:x:%d:%d:other:%s:/bin/sh\n",
		os.Getuid(), os.Getgid(), home, otherID, otherID, otherHome)
	gr := fmt.Sprintf("testers:x:%d:\nothers:x:%d:\n", os.Getgid(), otherID)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(pw), 0o644); err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "group"), []byte(gr), 0o644); err != nil {
		panic(err)
	}
	agent = server.Assemble(server.Config{
		DefaultUser: "tester",
		PasswdPath:  filepath.Join(dir, "passwd"),
		GroupPath:   filepath.Join(dir, "group"),
		Logf:        func(string, ...interface{}) {},
	})
	srv = httptest.NewServer(agent.Handler)
	code := m.Run()
	srv.Close()
	agent.Shutdown(time.Second)
	os.RemoveAll(dir)
	os.Exit(code)
}

// token is sent as X-Access-Token when set (only the auth test sets one).
var token string

func newRequest(t *testing.T, method, path, contentType string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("X-Access-Token", token)
	}
	return req
}

// unary calls a unary procedure and returns the status and the body.
func unary(t *testing.T, proc string, msg interface{}) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(msg)
	resp, err := http.DefaultClient.Do(newRequest(t, http.MethodPost, proc, "application/json", bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// mustUnary calls a unary procedure that must succeed and decodes its reply.
func mustUnary(t *testing.T, proc string, msg, out interface{}) {
	t.Helper()
	status, body := unary(t, proc, msg)
	if status != http.StatusOK {
		t.Fatalf("%s: %d %s", proc, status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: decode %s: %v", proc, body, err)
		}
	}
}

// connectCode extracts the Connect error code from an error body.
func connectCode(body []byte) string {
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return e.Code
}

type envelope struct {
	flags byte
	data  []byte
	err   error
}

// evStream reads the envelopes of a server-streaming response.
type evStream struct {
	resp *http.Response
	ch   chan envelope
}

func openStream(t *testing.T, proc string, msg interface{}, headers map[string]string) *evStream {
	t.Helper()
	b, _ := json.Marshal(msg)
	req := newRequest(t, http.MethodPost, proc, "application/connect+json", bytes.NewReader(connect.AppendEnvelope(nil, 0, b)))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/connect+json" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s %s", proc, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	s := &evStream{resp: resp, ch: make(chan envelope, 1024)}
	go func() {
		defer close(s.ch)
		for {
			f, p, err := connect.ReadEnvelope(resp.Body, 64<<20)
			s.ch <- envelope{f, p, err}
			if err != nil || f&connect.FlagEndStream != 0 {
				return
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

func (s *evStream) next(t *testing.T) envelope {
	t.Helper()
	select {
	case e, ok := <-s.ch:
		if !ok {
			t.Fatal("stream already ended")
		}
		if e.err != nil {
			t.Fatalf("reading stream: %v", e.err)
		}
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting for a stream message")
	}
	return envelope{}
}

func (s *evStream) close() { s.resp.Body.Close() }

// procEvent decodes a StartResponse/ConnectResponse.
type procEvent struct {
	Event struct {
		Start *struct{ Pid uint32 }
		Data  *struct{ Stdout, Stderr, Pty []byte }
		End   *struct {
			ExitCode int32
			Exited   bool
			Status   string
			Error    *string
		}
		Keepalive *struct{}
	}
}

func decodeEvent(t *testing.T, e envelope) procEvent {
	t.Helper()
	var ev procEvent
	if err := json.Unmarshal(e.data, &ev); err != nil {
		t.Fatalf("decode %s: %v", e.data, err)
	}
	return ev
}

// startPid reads the first event, which must be start, and returns the pid.
func (s *evStream) startPid(t *testing.T) uint32 {
	t.Helper()
	ev := decodeEvent(t, s.next(t))
	if ev.Event.Start == nil {
		t.Fatalf("first event is not start: %+v", ev)
	}
	return ev.Event.Start.Pid
}

type result struct {
	stdout, stderr, pty strings.Builder
	end                 *procEvent
	keepalives          int
	trailer             string
}

// drain reads events until the end-stream envelope.
func (s *evStream) drain(t *testing.T) *result {
	t.Helper()
	r := &result{}
	for {
		e := s.next(t)
		if e.flags&connect.FlagEndStream != 0 {
			r.trailer = string(e.data)
			return r
		}
		ev := decodeEvent(t, e)
		switch {
		case ev.Event.Data != nil:
			r.stdout.Write(ev.Event.Data.Stdout)
			r.stderr.Write(ev.Event.Data.Stderr)
			r.pty.Write(ev.Event.Data.Pty)
		case ev.Event.End != nil:
			r.end = &ev
		case ev.Event.Keepalive != nil:
			r.keepalives++
		}
	}
}

// readUntil reads data events until the accumulated output contains want.
func (s *evStream) readUntil(t *testing.T, want string) string {
	t.Helper()
	var out strings.Builder
	for !strings.Contains(out.String(), want) {
		e := s.next(t)
		if e.flags&connect.FlagEndStream != 0 {
			t.Fatalf("stream ended before %q; got %q (%s)", want, out.String(), e.data)
		}
		ev := decodeEvent(t, e)
		if ev.Event.Data != nil {
			out.Write(ev.Event.Data.Stdout)
			out.Write(ev.Event.Data.Stderr)
			out.Write(ev.Event.Data.Pty)
		}
		if ev.Event.End != nil {
			t.Fatalf("process ended before %q; got %q", want, out.String())
		}
	}
	return out.String()
}

func startMsg(cmd string, args ...string) map[string]interface{} {
	return map[string]interface{}{"process": map[string]interface{}{"cmd": cmd, "args": args}}
}

func pidSel(pid uint32) map[string]interface{} { return map[string]interface{}{"pid": pid} }
