package layerscan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func openRoot(t *testing.T, dir string) int {
	t.Helper()
	fd, err := syscall.Open(dir, dirFlags, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd
}

func scanInto(t *testing.T, root string, known map[string]Known) ([]Entry, []StagedCopy, []byte) {
	t.Helper()
	stageDir := t.TempDir()
	stage, err := NewStage(stageDir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Scan(openRoot(t, root), known, stage.Add)
	if err != nil {
		t.Fatal(err)
	}
	if err := stage.Finish(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(stageDir, "files.dat"))
	var copies []StagedCopy
	raw, _ := os.ReadFile(filepath.Join(stageDir, "files.json"))
	if err := json.Unmarshal(raw, &copies); err != nil {
		t.Fatal(err)
	}
	return entries, copies, data
}

func byPath(entries []Entry) map[string]Entry {
	m := map[string]Entry{}
	for _, e := range entries {
		m[e.Path] = e
	}
	return m
}

func TestScanDescribesEveryKindAndCopiesChangedFiles(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(os.WriteFile(filepath.Join(root, "a/b/new.txt"), []byte("new contents"), 0o640))
	must(os.WriteFile(filepath.Join(root, "a/same.txt"), []byte("same"), 0o644))
	must(os.Symlink("/etc/shadow", filepath.Join(root, "a/link")))
	must(syscall.Mknod(filepath.Join(root, "a/gone"), syscall.S_IFCHR, 0))
	must(syscall.Mkfifo(filepath.Join(root, "a/fifo"), 0o600))
	must(syscall.Setxattr(filepath.Join(root, "a/b"), opaqueXattr, []byte("y"), 0))

	var st syscall.Stat_t
	must(syscall.Lstat(filepath.Join(root, "a/same.txt"), &st))
	known := map[string]Known{"a/same.txt": {
		Size:    st.Size,
		MtimeNs: strconv.FormatInt(st.Mtim.Sec*1e9+st.Mtim.Nsec, 10),
		CtimeNs: strconv.FormatInt(st.Ctim.Sec*1e9+st.Ctim.Nsec, 10),
		Ino:     strconv.FormatUint(st.Ino, 10),
	}}
	entries, copies, data := scanInto(t, root, known)

	var order []string
	for _, e := range entries {
		order = append(order, e.Path)
	}
	if got := strings.Join(order, ","); got != "a,a/b,a/b/new.txt,a/fifo,a/gone,a/link,a/same.txt" {
		t.Fatalf("order %s", got)
	}
	m := byPath(entries)
	if !m["a/b"].Opaque || m["a"].Opaque {
		t.Fatalf("opaque: %+v %+v", m["a/b"], m["a"])
	}
	if m["a/link"].Type != "symlink" || m["a/link"].Target != "/etc/shadow" {
		t.Fatalf("link %+v", m["a/link"])
	}
	if m["a/gone"].Type != "whiteout" || m["a/fifo"].Type != "fifo" {
		t.Fatalf("whiteout/fifo %+v %+v", m["a/gone"], m["a/fifo"])
	}
	if !m["a/b/new.txt"].Changed || m["a/same.txt"].Changed || m["a/b/new.txt"].Mode != 0o640 {
		t.Fatalf("changed flags %+v %+v", m["a/b/new.txt"], m["a/same.txt"])
	}
	if len(copies) != 1 || copies[0].Path != "a/b/new.txt" || string(data[copies[0].Offset:copies[0].Offset+copies[0].Size]) != "new contents" {
		t.Fatalf("copies %+v data %q", copies, data)
	}
}

func TestScanNeverFollowsLinksAndWorksAtAnyDepth(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory symlink to a host directory, and a file symlink to a host file.
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "filelink")); err != nil {
		t.Fatal(err)
	}
	// Deeper than PATH_MAX allows as one path: 250 levels of 20 characters, made fd-relative.
	const levels = 250
	fd, err := syscall.Open(root, dirFlags, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < levels; i++ {
		name := strings.Repeat("d", 20)
		if err := syscall.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := openAt(fd, name, dirFlags)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(fd)
		fd = next
	}
	if _, err := openAt(fd, "leaf", syscall.O_CREAT|syscall.O_WRONLY|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	entries, copies, data := scanInto(t, root, nil)
	if strings.Contains(string(data), "host secret") {
		t.Fatal("a link was followed: the host file was copied")
	}
	for _, c := range copies {
		if strings.Contains(c.Path, "link") {
			t.Fatalf("copied through a link: %+v", c)
		}
	}
	maxDepth := 0
	for _, e := range entries {
		if d := strings.Count(e.Path, "/"); d > maxDepth {
			maxDepth = d
		}
	}
	if maxDepth != levels {
		t.Fatalf("walked %d levels below the root, want %d", maxDepth, levels)
	}
}
