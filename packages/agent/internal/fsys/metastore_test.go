package fsys

import (
	"path/filepath"
	"testing"
)

func TestMetaStoreFollowsMovesAndRemoves(t *testing.T) {
	m := &metaStore{dir: filepath.Join(t.TempDir(), "md")}
	if m.get("/a/f") != nil {
		t.Fatal("empty store has metadata")
	}
	if err := m.put("/a/f", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := m.put("/a/sub/g", map[string]string{"k": "g"}); err != nil {
		t.Fatal(err)
	}
	if err := m.put("/ab", map[string]string{"k": "other"}); err != nil {
		t.Fatal(err)
	}
	if got := m.get("/a/f"); got["k"] != "v" {
		t.Fatalf("get = %v", got)
	}
	// A new agent (after a restart or a files-only pause) finds what the last one stored.
	if got := (&metaStore{dir: m.dir}).get("/a/f"); got["k"] != "v" {
		t.Fatalf("get after restart = %v", got)
	}
	m.move("/a", "/b")
	if m.get("/a/f") != nil || m.get("/a/sub/g") != nil {
		t.Fatal("metadata left at the old paths")
	}
	if m.get("/b/f")["k"] != "v" || m.get("/b/sub/g")["k"] != "g" {
		t.Fatalf("moved: %v %v", m.get("/b/f"), m.get("/b/sub/g"))
	}
	if m.get("/ab")["k"] != "other" {
		t.Fatal("a sibling sharing the prefix moved too")
	}
	m.move("/ab", "/b/f") // replaces /b/f
	if m.get("/b/f")["k"] != "other" || m.get("/ab") != nil {
		t.Fatalf("rename over a file: %v", m.get("/b/f"))
	}
	m.removeTree("/b")
	if m.get("/b/f") != nil || m.get("/b/sub/g") != nil {
		t.Fatal("metadata kept after remove")
	}
	if err := m.put("/c", nil); err != nil {
		t.Fatal("clearing what is not there:", err)
	}
}
