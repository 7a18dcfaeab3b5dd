package fsys

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// An upload writes a temporary file beside its target and renames it over the target, so no
// reader sees a partial file. Watchers must not show that: E2B's envd writes in place, and
// programs wait for a write event of the target. The upload marks its temporary file's name
// here; watchers drop every event of a marked name and turn the rename onto the target into the
// events a write in place makes (create when the target is new, then write).

// uploadMarkTTL is how long after an upload watchers still recognise its temporary name.
const uploadMarkTTL = 10 * time.Second

type uploadMark struct {
	existed bool      // the target existed before the upload
	until   time.Time // zero while the upload runs
}

type uploadMarks struct {
	mu    sync.Mutex
	names map[string]uploadMark // temporary file name (base name) → mark
}

var uploads = &uploadMarks{names: map[string]uploadMark{}}

// createTemp creates the upload's temporary file beside path (mode 0600, exclusive) and marks
// its name before it exists, so no watcher sees it unmarked.
func (m *uploadMarks) createTemp(path string, existed bool) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		name := "." + filepath.Base(path) + ".upload-" + hex.EncodeToString(rnd[:])
		m.mu.Lock()
		m.names[name] = uploadMark{existed: existed}
		m.mu.Unlock()
		f, err := os.OpenFile(filepath.Join(filepath.Dir(path), name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, nil
		}
		m.forget(name)
		if !os.IsExist(err) || attempt > 100 {
			return nil, err
		}
	}
}

// done keeps the mark of a finished upload for a while, for watchers still reading its events.
func (m *uploadMarks) done(tempPath string) {
	name := filepath.Base(tempPath)
	m.mu.Lock()
	defer m.mu.Unlock()
	if mark, ok := m.names[name]; ok {
		mark.until = time.Now().Add(uploadMarkTTL)
		m.names[name] = mark
	}
	for n, mk := range m.names {
		if !mk.until.IsZero() && time.Now().After(mk.until) {
			delete(m.names, n)
		}
	}
}

func (m *uploadMarks) forget(name string) {
	m.mu.Lock()
	delete(m.names, name)
	m.mu.Unlock()
}

// lookup reports whether name is an upload's temporary file, and its mark.
func (m *uploadMarks) lookup(name string) (uploadMark, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mark, ok := m.names[name]
	return mark, ok
}

// uploadEvents is what a watcher reports instead of a rename of an upload's temporary file onto
// its target: the inotify mask of a write in place.
func uploadEvents(mark uploadMark) uint32 {
	if mark.existed {
		return syscall.IN_MODIFY
	}
	return syscall.IN_CREATE | syscall.IN_MODIFY
}
