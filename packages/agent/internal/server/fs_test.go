package server_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"burrow/agent/internal/fsys"
)

const (
	fsStat    = "/filesystem.Filesystem/Stat"
	fsMakeDir = "/filesystem.Filesystem/MakeDir"
	fsMove    = "/filesystem.Filesystem/Move"
	fsList    = "/filesystem.Filesystem/ListDir"
	fsRemove  = "/filesystem.Filesystem/Remove"
	fsWatch   = "/filesystem.Filesystem/WatchDir"
)

type entry struct {
	Name, Type, Path, Size, Permissions, Owner, Group, ModifiedTime string
	Mode                                                            uint32
	SymlinkTarget                                                   *string
}

type writeInfo struct{ Name, Type, Path string }

func doFiles(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func filesURL(path string, extra url.Values) string {
	q := url.Values{"path": {path}}
	for k, v := range extra {
		q[k] = v
	}
	return "/files?" + q.Encode()
}

func TestFilesUploadDownload10MB(t *testing.T) {
	blob := make([]byte, 10<<20+123)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(blob)
	dest := filepath.Join(home, "up", "nested", "blob.bin")

	// multipart/form-data, as the e2b SDK sends it: field "file", filename = path.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", dest)
	fw.Write(blob)
	mw.Close()
	status, body := doFiles(t, newRequest(t, http.MethodPost, filesURL(dest, nil), mw.FormDataContentType(), &mp))
	var infos []writeInfo
	if status != 200 || json.Unmarshal(body, &infos) != nil || len(infos) != 1 || infos[0] != (writeInfo{"blob.bin", "file", dest}) {
		t.Fatalf("multipart upload: %d %s", status, body)
	}
	status, got := doFiles(t, newRequest(t, http.MethodGet, filesURL(dest, nil), "", nil))
	if status != 200 || sha256.Sum256(got) != want {
		t.Fatalf("download: %d, %d bytes", status, len(got))
	}

	// Raw octet-stream body, relative path (resolved against the home directory).
	status, body = doFiles(t, newRequest(t, http.MethodPost, filesURL("raw/blob2.bin", nil), "application/octet-stream", bytes.NewReader(blob)))
	if status != 200 || !strings.Contains(string(body), filepath.Join(home, "raw", "blob2.bin")) {
		t.Fatalf("raw upload: %d %s", status, body)
	}
	status, got = doFiles(t, newRequest(t, http.MethodGet, filesURL("~/raw/blob2.bin", nil), "", nil))
	if status != 200 || sha256.Sum256(got) != want {
		t.Fatalf("raw download: %d, %d bytes", status, len(got))
	}
	// No temporary files are left behind.
	if ents, _ := os.ReadDir(filepath.Join(home, "raw")); len(ents) != 1 {
		t.Fatalf("raw dir has %d entries", len(ents))
	}

	// gzip download when asked for.
	req := newRequest(t, http.MethodGet, filesURL(dest, nil), "", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip response: %v %q", err, resp.Header.Get("Content-Encoding"))
	}
	unz, _ := io.ReadAll(zr)
	resp.Body.Close()
	if sha256.Sum256(unz) != want {
		t.Fatal("gzip download differs")
	}
}

func TestFilesMultipleAndErrors(t *testing.T) {
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for _, name := range []string{"multi/a.txt", filepath.Join(home, "multi", "b.txt")} {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write([]byte("content of " + filepath.Base(name)))
	}
	mw.Close()
	status, body := doFiles(t, newRequest(t, http.MethodPost, "/files", mw.FormDataContentType(), &mp))
	var infos []writeInfo
	if status != 200 || json.Unmarshal(body, &infos) != nil || len(infos) != 2 || infos[0].Path != filepath.Join(home, "multi", "a.txt") {
		t.Fatalf("multi upload: %d %s", status, body)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "multi", "b.txt")); string(b) != "content of b.txt" {
		t.Fatalf("b.txt = %q", b)
	}
	status, body = doFiles(t, newRequest(t, http.MethodGet, filesURL("/nonexistent/file", nil), "", nil))
	if status != 404 || !strings.Contains(string(body), `"code":404`) {
		t.Fatalf("missing file: %d %s", status, body)
	}
	status, _ = doFiles(t, newRequest(t, http.MethodGet, filesURL(home, nil), "", nil))
	if status != 400 {
		t.Fatalf("directory download: %d", status)
	}
	status, _ = doFiles(t, newRequest(t, http.MethodPost, filesURL(home, nil), "application/octet-stream", strings.NewReader("x")))
	if status != 400 {
		t.Fatalf("upload onto a directory: %d", status)
	}
	status, _ = doFiles(t, newRequest(t, http.MethodGet, filesURL("x", url.Values{"username": {"ghost"}}), "", nil))
	if status != 401 {
		t.Fatalf("unknown username: %d", status)
	}
}

func TestFilesystemRPCs(t *testing.T) {
	base := filepath.Join(home, "fsrpc")
	var made struct{ Entry entry }
	mustUnary(t, fsMakeDir, map[string]string{"path": "fsrpc/a/b"}, &made)
	if made.Entry.Type != "FILE_TYPE_DIRECTORY" || made.Entry.Path != filepath.Join(base, "a", "b") || made.Entry.Owner != "tester" {
		t.Fatalf("MakeDir entry = %+v", made.Entry)
	}
	status, body := unary(t, fsMakeDir, map[string]string{"path": "fsrpc/a/b"})
	if status != 409 || connectCode(body) != "already_exists" {
		t.Fatalf("MakeDir twice: %d %s", status, body)
	}
	if err := os.WriteFile(filepath.Join(base, "a", "f.txt"), []byte("12345"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "a", "f.txt"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	var st struct{ Entry entry }
	mustUnary(t, fsStat, map[string]string{"path": filepath.Join(base, "a", "f.txt")}, &st)
	if st.Entry.Type != "FILE_TYPE_FILE" || st.Entry.Size != "5" || st.Entry.Mode != 0o640 || st.Entry.Permissions != "-rw-r-----" || st.Entry.ModifiedTime == "" {
		t.Fatalf("Stat = %+v", st.Entry)
	}
	mustUnary(t, fsStat, map[string]string{"path": "~/fsrpc/link"}, &st)
	if st.Entry.SymlinkTarget == nil || *st.Entry.SymlinkTarget != filepath.Join(base, "a", "f.txt") || st.Entry.Type != "FILE_TYPE_FILE" {
		t.Fatalf("Stat symlink = %+v", st.Entry)
	}

	var ls struct{ Entries []entry }
	mustUnary(t, fsList, map[string]interface{}{"path": base}, &ls)
	if len(ls.Entries) != 2 {
		t.Fatalf("ListDir depth 1 = %+v", ls.Entries)
	}
	mustUnary(t, fsList, map[string]interface{}{"path": base, "depth": 3}, &ls)
	paths := map[string]bool{}
	for _, e := range ls.Entries {
		paths[e.Path] = true
	}
	for _, p := range []string{"a", "a/b", "a/f.txt", "link"} {
		if !paths[filepath.Join(base, p)] {
			t.Fatalf("ListDir depth 3 misses %s: %v", p, paths)
		}
	}
	status, body = unary(t, fsList, map[string]interface{}{"path": filepath.Join(base, "a", "f.txt")})
	if status != 400 || connectCode(body) != "invalid_argument" {
		t.Fatalf("ListDir of a file: %d %s", status, body)
	}

	var mv struct{ Entry entry }
	mustUnary(t, fsMove, map[string]string{"source": "fsrpc/a/f.txt", "destination": "fsrpc/new/dir/g.txt"}, &mv)
	if mv.Entry.Path != filepath.Join(base, "new", "dir", "g.txt") || mv.Entry.Name != "g.txt" {
		t.Fatalf("Move = %+v", mv.Entry)
	}
	status, body = unary(t, fsMove, map[string]string{"source": "fsrpc/a/f.txt", "destination": "fsrpc/x"})
	if status != 404 || connectCode(body) != "not_found" {
		t.Fatalf("Move missing source: %d %s", status, body)
	}

	mustUnary(t, fsRemove, map[string]string{"path": base}, nil)
	status, body = unary(t, fsStat, map[string]string{"path": base})
	if status != 404 || connectCode(body) != "not_found" {
		t.Fatalf("Stat after Remove: %d %s", status, body)
	}
}

type fsEvent struct {
	Start      *struct{}
	Filesystem *struct{ Name, Type string }
	Keepalive  *struct{}
}

func waitEvent(t *testing.T, s *evStream, name, typ string) {
	t.Helper()
	for {
		var ev fsEvent
		e := s.next(t)
		if err := json.Unmarshal(e.data, &ev); err != nil || e.flags != 0 {
			t.Fatalf("watch ended or bad message waiting for %s %s: %s", typ, name, e.data)
		}
		if ev.Filesystem != nil && ev.Filesystem.Name == name && ev.Filesystem.Type == typ {
			return
		}
	}
}

func TestWatchDir(t *testing.T) {
	dir := filepath.Join(home, "watched")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	s := openStream(t, fsWatch, map[string]interface{}{"path": dir, "recursive": true}, nil)
	var first fsEvent
	if e := s.next(t); json.Unmarshal(e.data, &first) != nil || first.Start == nil {
		t.Fatalf("first watch event: %s", e.data)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644)
	waitEvent(t, s, "new.txt", "EVENT_TYPE_CREATE")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	waitEvent(t, s, "sub", "EVENT_TYPE_CREATE")
	os.WriteFile(filepath.Join(dir, "sub", "inner.txt"), []byte("y"), 0o644)
	waitEvent(t, s, "sub/inner.txt", "EVENT_TYPE_CREATE")
	os.Remove(filepath.Join(dir, "new.txt"))
	waitEvent(t, s, "new.txt", "EVENT_TYPE_REMOVE")
	s.close()

	status, body := unary(t, "/filesystem.Filesystem/CreateWatcher", map[string]interface{}{"path": "watched"})
	var cw struct{ WatcherID string }
	if status != 200 || json.Unmarshal(body, &cw) != nil || cw.WatcherID == "" {
		t.Fatalf("CreateWatcher: %d %s", status, body)
	}
	os.WriteFile(filepath.Join(dir, "polled.txt"), []byte("z"), 0o644)
	var evs struct{ Events []struct{ Name, Type string } }
	for i := 0; i < 100 && len(evs.Events) == 0; i++ {
		time.Sleep(20 * time.Millisecond)
		mustUnary(t, "/filesystem.Filesystem/GetWatcherEvents", map[string]string{"watcher_id": cw.WatcherID}, &evs)
	}
	if len(evs.Events) == 0 || evs.Events[0].Name != "polled.txt" || evs.Events[0].Type != "EVENT_TYPE_CREATE" {
		t.Fatalf("GetWatcherEvents = %+v", evs)
	}
	mustUnary(t, "/filesystem.Filesystem/RemoveWatcher", map[string]string{"watcherId": cw.WatcherID}, nil)
	if status, _ := unary(t, "/filesystem.Filesystem/GetWatcherEvents", map[string]string{"watcherId": cw.WatcherID}); status != 404 {
		t.Fatalf("removed watcher: %d", status)
	}
	status, body = unary(t, "/filesystem.Filesystem/CreateWatcher", map[string]interface{}{"path": "does-not-exist"})
	if status != 404 {
		t.Fatalf("watch missing dir: %d %s", status, body)
	}
}

func TestUploadMetadata(t *testing.T) {
	path := filepath.Join(home, "meta.txt")
	req := newRequest(t, http.MethodPost, filesURL(path, nil), "application/octet-stream", strings.NewReader("m"))
	req.Header.Set("X-Metadata-Owner-Team", "infra")
	status, body := doFiles(t, req)
	if status == 500 && strings.Contains(string(body), "metadata") {
		t.Skipf("no user xattrs on this filesystem: %s", body)
	}
	if status != 200 || !strings.Contains(string(body), `"metadata":{"owner-team":"infra"}`) {
		t.Fatalf("upload with metadata: %d %s", status, body)
	}
	var st struct {
		Entry struct{ Metadata map[string]string }
	}
	mustUnary(t, fsStat, map[string]string{"path": path}, &st)
	if st.Entry.Metadata["owner-team"] != "infra" {
		t.Fatalf("Stat metadata = %v", st.Entry.Metadata)
	}
	// A new upload without metadata headers clears it.
	status, _ = doFiles(t, newRequest(t, http.MethodPost, filesURL(path, nil), "application/octet-stream", strings.NewReader("n")))
	st.Entry.Metadata = nil
	mustUnary(t, fsStat, map[string]string{"path": path}, &st)
	if status != 200 || len(st.Entry.Metadata) != 0 {
		t.Fatalf("metadata after plain upload: %d %v", status, st.Entry.Metadata)
	}
	req = newRequest(t, http.MethodPost, filesURL(path, nil), "application/octet-stream", strings.NewReader("m"))
	req.Header.Set("X-Metadata-Bad", "caf\u00e9")
	if status, _ := doFiles(t, req); status != 400 {
		t.Fatalf("non-ASCII metadata: %d", status)
	}
}

// TestUploadMetadataWithoutXattrs is the agent on gVisor's root filesystem,
// which refuses user.* xattrs: metadata lives in the agent's store and follows
// write, stat, list, move, overwrite and remove.
func TestUploadMetadataWithoutXattrs(t *testing.T) {
	defer fsys.WithoutXattrsForTest(filepath.Join(t.TempDir(), "md"))()
	dir := filepath.Join(home, "nometa")
	path := filepath.Join(dir, "m.txt")
	upload := func(md string) (int, []byte) {
		req := newRequest(t, http.MethodPost, filesURL(path, nil), "application/octet-stream", strings.NewReader("m"))
		if md != "" {
			req.Header.Set("X-Metadata-Owner-Team", md)
		}
		return doFiles(t, req)
	}
	metaOf := func(p string) map[string]string {
		var st struct {
			Entry struct{ Metadata map[string]string }
		}
		mustUnary(t, fsStat, map[string]string{"path": p}, &st)
		return st.Entry.Metadata
	}
	if status, body := upload("infra"); status != 200 || !strings.Contains(string(body), `"metadata":{"owner-team":"infra"}`) {
		t.Fatalf("upload with metadata: %d %s", status, body)
	}
	if md := metaOf(path); md["owner-team"] != "infra" {
		t.Fatalf("Stat metadata = %v", md)
	}
	var ls struct {
		Entries []struct {
			Path     string
			Metadata map[string]string
		}
	}
	mustUnary(t, fsList, map[string]interface{}{"path": dir}, &ls)
	if len(ls.Entries) != 1 || ls.Entries[0].Metadata["owner-team"] != "infra" {
		t.Fatalf("ListDir = %+v", ls.Entries)
	}
	moved := filepath.Join(home, "nometa-moved", "m.txt")
	mustUnary(t, fsMove, map[string]string{"source": dir, "destination": filepath.Dir(moved)}, nil)
	if md := metaOf(moved); md["owner-team"] != "infra" {
		t.Fatalf("metadata after moving the directory = %v", md)
	}
	mustUnary(t, fsMove, map[string]string{"source": filepath.Dir(moved), "destination": dir}, nil)
	if status, _ := upload(""); status != 200 || len(metaOf(path)) != 0 {
		t.Fatalf("metadata after a plain overwrite: %d %v", status, metaOf(path))
	}
	upload("again")
	mustUnary(t, fsRemove, map[string]string{"path": dir}, nil)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if md := metaOf(path); len(md) != 0 {
		t.Fatalf("metadata outlived Remove: %v", md)
	}
	mustUnary(t, fsRemove, map[string]string{"path": dir}, nil)
}
