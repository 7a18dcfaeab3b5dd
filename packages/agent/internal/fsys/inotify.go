package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/wire"
)

const watchMask = syscall.IN_CREATE | syscall.IN_MODIFY | syscall.IN_DELETE | syscall.IN_MOVED_FROM |
	syscall.IN_MOVED_TO | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF

// watcher watches a directory (optionally its whole subtree) with inotify.
type watcher struct {
	f         *os.File // non-blocking inotify fd, served by Go's poller
	fd        int
	root      string
	recursive bool
	// as runs watch additions with the watching user's credentials (asUser).
	as func(func() error) error

	mu  sync.Mutex
	wds map[int32]string // watch descriptor → directory
	// uploadMoves holds, by rename cookie, uploads whose temporary file was moved away: the
	// matching move onto the target is reported as a write in place.
	uploadMoves map[uint32]uploadMark
}

// newWatcher starts watching root; with recursive, every directory below too,
// including those created later (added through as, with the user's rights).
func newWatcher(root string, recursive bool, as func(func() error) error) (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, watchError(root, err)
	}
	w := &watcher{
		f: os.NewFile(uintptr(fd), "inotify"), fd: fd, root: root, recursive: recursive, as: as,
		wds: map[int32]string{}, uploadMoves: map[uint32]uploadMark{},
	}
	if err := w.add(root); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func watchError(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		return connect.Errorf(connect.ResourceExhausted, "too many inotify watches to watch '%s'", path)
	}
	return statError(path, err)
}

// add watches dir and, for a recursive watcher, its subdirectories.
func (w *watcher) add(dir string) error {
	wd, err := syscall.InotifyAddWatch(w.fd, dir, watchMask|syscall.IN_ONLYDIR)
	if err != nil {
		return watchError(dir, err)
	}
	w.mu.Lock()
	w.wds[int32(wd)] = dir
	w.mu.Unlock()
	if !w.recursive {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // vanished or unreadable: nothing below to watch
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := w.add(filepath.Join(dir, e.Name())); err != nil {
				var ce *connect.Error
				if errors.As(err, &ce) && ce.Code == connect.ResourceExhausted {
					return err
				}
			}
		}
	}
	return nil
}

// Close stops the watcher; Run then returns.
func (w *watcher) Close() error { return w.f.Close() }

// rawEvent is one decoded inotify event: the full path and its mask.
type rawEvent struct {
	path string
	mask uint32
	self bool // the event is about a watched directory itself
}

// Run reads events until the watcher is closed, calling emit for each
// protocol event (one inotify event may yield several, as in fsnotify).
func (w *watcher) Run(emit func(wire.FilesystemEvent)) error {
	buf := make([]byte, 64*1024)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		for _, ev := range w.decode(buf[:n]) {
			for _, t := range eventTypes(ev.mask) {
				if ev.self && ev.path != w.root {
					continue // the parent's watch reports this entry
				}
				rel, err := filepath.Rel(w.root, ev.path)
				if err != nil {
					continue
				}
				emit(wire.FilesystemEvent{Name: rel, Type: t})
			}
		}
	}
}

func (w *watcher) decode(b []byte) []rawEvent {
	var out []rawEvent
	for len(b) >= syscall.SizeofInotifyEvent {
		raw := (*syscall.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := syscall.SizeofInotifyEvent + int(raw.Len)
		if end > len(b) {
			break
		}
		name := string(b[syscall.SizeofInotifyEvent:end])
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		mask := raw.Mask
		b = b[end:]

		w.mu.Lock()
		dir, ok := w.wds[raw.Wd]
		if mask&syscall.IN_IGNORED != 0 {
			delete(w.wds, raw.Wd)
		}
		w.mu.Unlock()
		if !ok || mask&(syscall.IN_IGNORED|syscall.IN_Q_OVERFLOW) != 0 {
			continue
		}
		path := dir
		if name != "" {
			path = filepath.Join(dir, name)
			if mark, ok := uploads.lookup(name); ok {
				if mask&syscall.IN_MOVED_FROM != 0 {
					if len(w.uploadMoves) > 1024 {
						w.uploadMoves = map[uint32]uploadMark{} // moves whose other half never came
					}
					w.uploadMoves[raw.Cookie] = mark
				}
				continue // an upload's temporary file: never shown
			}
			if mark, ok := w.uploadMoves[raw.Cookie]; ok && mask&syscall.IN_MOVED_TO != 0 {
				delete(w.uploadMoves, raw.Cookie)
				mask = uploadEvents(mark)
			}
		}
		if w.recursive && mask&syscall.IN_ISDIR != 0 && mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
			_ = w.as(func() error { return w.add(path) })
		}
		out = append(out, rawEvent{path: path, mask: mask, self: name == ""})
	}
	return out
}

// eventTypes maps an inotify mask to protocol event types.
func eventTypes(mask uint32) []wire.EventType {
	var out []wire.EventType
	if mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
		out = append(out, wire.EventCreate)
	}
	if mask&(syscall.IN_MOVED_FROM|syscall.IN_MOVE_SELF) != 0 {
		out = append(out, wire.EventRename)
	}
	if mask&syscall.IN_ATTRIB != 0 {
		out = append(out, wire.EventChmod)
	}
	if mask&syscall.IN_MODIFY != 0 {
		out = append(out, wire.EventWrite)
	}
	if mask&(syscall.IN_DELETE|syscall.IN_DELETE_SELF) != 0 {
		out = append(out, wire.EventRemove)
	}
	return out
}

// carriesEntry reports whether an event's entry still exists at its path.
func carriesEntry(t wire.EventType) bool {
	return t == wire.EventCreate || t == wire.EventWrite || t == wire.EventChmod
}

// Filesystem magic numbers of network and FUSE mounts (linux/magic.h).
var networkMagic = map[int64]bool{0x6969: true, 0xFF534D42: true, 0x517B: true, 0xFE534D42: true, 0x65735546: true}

func onNetworkMount(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return false
	}
	return networkMagic[int64(st.Type)]
}
