package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// asOther makes req act as the unprivileged test user.
func asOther(req *http.Request) *http.Request {
	req.SetBasicAuth("other", "")
	return req
}

func otherUnary(t *testing.T, proc string, body string) (int, []byte) {
	t.Helper()
	req := asOther(newRequest(t, http.MethodPost, proc, "application/json", strings.NewReader(body)))
	return doFiles(t, req)
}

// File operations for a user run with that user's credentials: what the
// kernel refuses the user's own programs, the agent refuses too.
func TestFileOperationsUseTheUsersCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	private := filepath.Join(testDir, "private")
	if err := os.WriteFile(private, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(testDir, "locked")
	if err := os.MkdirAll(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	rootDir := filepath.Join(testDir, "etc")
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(rootDir, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Download of a root-only file: 403 for the user, 200 for root.
	status, _ := doFiles(t, asOther(newRequest(t, http.MethodGet, filesURL(private, nil), "", nil)))
	if status != http.StatusForbidden {
		t.Fatalf("user download of a 0600 root file: %d", status)
	}
	if status, body := doFiles(t, newRequest(t, http.MethodGet, filesURL(private, nil), "", nil)); status != 200 || string(body) != "root only\n" {
		t.Fatalf("root download: %d %q", status, body)
	}

	// Upload over a root-owned file in a root-owned directory: refused, file unchanged.
	req := asOther(newRequest(t, http.MethodPost, filesURL(passwd, nil), "application/octet-stream", strings.NewReader("owned\n")))
	if status, body := doFiles(t, req); status != http.StatusForbidden {
		t.Fatalf("user upload over %s: %d %s", passwd, status, body)
	}
	if b, _ := os.ReadFile(passwd); !bytes.HasPrefix(b, []byte("root:")) {
		t.Fatalf("passwd changed: %q", b)
	}
	if entries, _ := os.ReadDir(rootDir); len(entries) != 1 {
		t.Fatalf("upload left files behind: %v", entries)
	}

	// The user's own home works, and what is written belongs to the user.
	mine := filepath.Join(otherHome, "sub", "mine.txt")
	req = asOther(newRequest(t, http.MethodPost, filesURL(mine, nil), "application/octet-stream", strings.NewReader("mine\n")))
	if status, body := doFiles(t, req); status != 200 {
		t.Fatalf("user upload into home: %d %s", status, body)
	}
	for _, p := range []string{mine, filepath.Dir(mine)} {
		fi, err := os.Stat(p)
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != otherID || fi.Sys().(*syscall.Stat_t).Gid != otherID {
			t.Fatalf("%s: %v owner %+v", p, err, fi)
		}
	}
	if status, body := doFiles(t, asOther(newRequest(t, http.MethodGet, filesURL("sub/mine.txt", nil), "", nil))); status != 200 || string(body) != "mine\n" {
		t.Fatalf("user download from home: %d %q", status, body)
	}

	// Filesystem RPCs: permission_denied where the user has no rights.
	for _, c := range []struct{ proc, body string }{
		{fsList, `{"path":"` + locked + `"}`},
		{fsStat, `{"path":"` + locked + `/x"}`},
		{fsMakeDir, `{"path":"` + rootDir + `/newdir"}`},
		{fsRemove, `{"path":"` + passwd + `"}`},
		{fsMove, `{"source":"` + passwd + `","destination":"` + otherHome + `/stolen"}`},
		{fsWatch, `{"path":"` + locked + `"}`},
	} {
		if c.proc == fsWatch {
			s := openStream(t, c.proc, map[string]string{"path": locked}, map[string]string{"Authorization": "Basic b3RoZXI6"})
			e := s.next(t)
			s.close()
			if e.flags&2 == 0 || !strings.Contains(string(e.data), "permission_denied") {
				t.Fatalf("user watch of a 0700 root dir: flags %d %s", e.flags, e.data)
			}
			continue
		}
		status, body := otherUnary(t, c.proc, c.body)
		if status != http.StatusForbidden || connectCode(body) != "permission_denied" {
			t.Fatalf("%s as user: %d %s", c.proc, status, body)
		}
	}
	if _, err := os.Stat(passwd); err != nil {
		t.Fatalf("passwd removed or moved: %v", err)
	}
	// A deep listing lists a directory the user may not read without descending into it.
	status, body := otherUnary(t, fsList, `{"path":"`+testDir+`","depth":2}`)
	if status != 200 || !strings.Contains(string(body), `"name":"locked"`) || strings.Contains(string(body), "locked/") {
		t.Fatalf("deep listing as user: %d %s", status, body)
	}
	// Root is still root.
	if status, body := unary(t, fsList, map[string]string{"path": locked}); status != 200 {
		t.Fatalf("root list of a 0700 dir: %d %s", status, body)
	}
}

// File system refusals are 4xx with a code a client can act on, not 500.
func TestFileErrorsAreClientErrors(t *testing.T) {
	file := filepath.Join(home, "plain.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 300)
	for _, c := range []struct {
		proc string
		body map[string]string
		code string
	}{
		{fsRemove, map[string]string{"path": filepath.Join(home, long)}, "invalid_argument"},
		{fsStat, map[string]string{"path": filepath.Join(home, long)}, "invalid_argument"},
		{fsMakeDir, map[string]string{"path": filepath.Join(file, "sub")}, "invalid_argument"},
		{fsList, map[string]string{"path": filepath.Join(file, "sub")}, "invalid_argument"},
		{fsMove, map[string]string{"source": home, "destination": filepath.Join(home, "inside")}, "invalid_argument"},
	} {
		status, body := unary(t, c.proc, c.body)
		if status >= 500 || connectCode(body) != c.code {
			t.Fatalf("%s %v: %d %s (want %s)", c.proc, c.body, status, body, c.code)
		}
	}
	for _, p := range []string{filepath.Join(home, long), filepath.Join(file, "sub")} {
		req := newRequest(t, http.MethodPost, filesURL(p, nil), "application/octet-stream", strings.NewReader("x"))
		if status, body := doFiles(t, req); status != http.StatusBadRequest {
			t.Fatalf("upload to %s: %d %s", p[:40], status, body)
		}
	}
}

// Paths reach the agent plainly: an encoded or dotted spelling is refused, so
// a proxy that checked the path (e.g. "not /init") saw what is routed.
func TestNonCanonicalPathsAreRefused(t *testing.T) {
	for _, raw := range []string{"/%69nit", "/files/../init", "//init", "/process.Process%2FList", "/./health"} {
		req := newRequest(t, http.MethodPost, "/health", "application/json", strings.NewReader("{}"))
		req.URL.Opaque = raw
		status, body := doFiles(t, req)
		if status != http.StatusBadRequest || connectCode(body) != "invalid_argument" {
			t.Fatalf("%s: %d %s", raw, status, body)
		}
	}
}

// Concurrent operations as the user and as root never see each other's
// credentials (the user's run on threads of their own, reused between calls).
func TestUserAndRootOperationsDoNotMix(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	private := filepath.Join(testDir, "private-mix")
	if err := os.WriteFile(private, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 200)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := newRequest(t, http.MethodGet, filesURL(private, nil), "", nil)
			want := http.StatusOK
			if i%2 == 0 {
				asOther(req)
				want = http.StatusForbidden
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				errs <- fmt.Sprintf("request %d: %d, want %d", i, resp.StatusCode, want)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
