package fsys

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"burrow/agent/internal/wire"
)

// upload does what writeOneAs does to the file system: a marked temporary file renamed over path.
func upload(t *testing.T, path, data string) {
	t.Helper()
	_, err := os.Lstat(path)
	tmp, err2 := uploads.createTemp(path, err == nil)
	if err2 != nil {
		t.Fatal(err2)
	}
	defer uploads.done(tmp.Name())
	if _, err := tmp.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

func TestUploadsLookLikeWritesInPlaceToWatchers(t *testing.T) {
	dir := t.TempDir()
	w, err := newWatcher(dir, true, func(fn func() error) error { return fn() })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	go func() {
		_ = w.Run(func(ev wire.FilesystemEvent) {
			mu.Lock()
			got = append(got, string(ev.Type)+":"+ev.Name)
			mu.Unlock()
		})
	}()
	defer w.Close()

	target := filepath.Join(dir, "note.txt")
	upload(t, target, "first")  // new file: create + write
	upload(t, target, "second") // overwrite: write only
	// A user's own file that merely looks like a temporary name is shown as it is.
	if err := os.WriteFile(filepath.Join(dir, ".x.upload-mine"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		string(wire.EventCreate) + ":note.txt", string(wire.EventWrite) + ":note.txt",
		string(wire.EventWrite) + ":note.txt",
		string(wire.EventCreate) + ":.x.upload-mine",
	}
	if len(got) < len(want) {
		t.Fatalf("events %v, want %v first", got, want)
	}
	for i, ev := range want {
		if got[i] != ev {
			t.Fatalf("events %v, want %v first", got, want)
		}
	}
	for _, ev := range got {
		if filepath.Ext(ev) != ".txt" && ev[len(ev)-5:] != "-mine" {
			t.Fatalf("an upload's temporary file was shown: %v", got)
		}
	}
}
