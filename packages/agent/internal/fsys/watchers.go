package fsys

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/wire"
)

// Limits of the polled (CreateWatcher) watchers: how many may exist and how
// many undelivered events each keeps (the oldest are dropped beyond that).
const (
	maxPollWatchers     = 256
	maxPendingWatchEvts = 10000
)

// openWatcher validates a watch request and starts an inotify watcher.
func (s *Service) openWatcher(r *http.Request, in *wire.WatchRequest) (*watcher, string, error) {
	u, path, err := s.userPath(r, in.Path)
	if err != nil {
		return nil, "", err
	}
	var w *watcher
	err = asUser(u, func() error {
		st, err := os.Stat(path)
		if err != nil {
			return statError(path, err)
		}
		if !st.IsDir() {
			return connect.Errorf(connect.InvalidArgument, "'%s' is not a directory", path)
		}
		if !in.AllowNetworkMounts && onNetworkMount(path) {
			return connect.Errorf(connect.InvalidArgument, "'%s' is on a network filesystem; set allowNetworkMounts to watch it anyway", path)
		}
		w, err = newWatcher(path, in.Recursive, func(fn func() error) error { return asUser(u, fn) })
		return err
	})
	return w, path, err
}

// decorate adds entry info to an event when asked for and possible.
func (s *Service) decorate(ev wire.FilesystemEvent, root string, include bool) wire.FilesystemEvent {
	if include && carriesEntry(ev.Type) {
		if e, err := entryInfo(s.State.Users, filepath.Join(root, ev.Name)); err == nil {
			ev.Entry = e
		}
	}
	return ev
}

func (s *Service) watchDir(ctx context.Context, req *connect.Request, st *connect.Stream) error {
	var in wire.WatchRequest
	if err := req.Decode(&in); err != nil {
		return err
	}
	w, root, err := s.openWatcher(req.HTTP, &in)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := st.Send(wire.WatchDirResponse{Start: &wire.Empty{}}); err != nil {
		return err
	}

	// The reader blocks when the stream is slow; the kernel queue then absorbs
	// (and, past its limit, drops) events, so memory stays bounded.
	events := make(chan wire.FilesystemEvent, 256)
	runErr := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.Logf("panic in watcher: %v at %s", p, connect.PanicLocation())
				runErr <- connect.Errorf(connect.Internal, "watcher failed")
			}
		}()
		runErr <- w.Run(func(ev wire.FilesystemEvent) {
			select {
			case events <- ev:
			case <-ctx.Done():
			}
		})
	}()

	keepalive := connect.KeepaliveInterval(req.HTTP.Header)
	ticker := time.NewTicker(keepalive)
	defer ticker.Stop()
	for {
		select {
		case ev := <-events:
			if err := st.Send(wire.WatchDirResponse{Filesystem: ptr(s.decorate(ev, root, in.IncludeEntry))}); err != nil {
				return err
			}
			ticker.Reset(keepalive)
		case <-ticker.C:
			if err := st.Send(wire.WatchDirResponse{Keepalive: &wire.Empty{}}); err != nil {
				return err
			}
		case err := <-runErr:
			if err == nil {
				return nil
			}
			return connect.Errorf(connect.Internal, "watching '%s': %v", root, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func ptr(ev wire.FilesystemEvent) *wire.FilesystemEvent { return &ev }

// pollWatcher gathers events for GetWatcherEvents.
type pollWatcher struct {
	w      *watcher
	mu     sync.Mutex
	events []wire.FilesystemEvent
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Service) createWatcher(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.WatchRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	s.watchMu.Lock()
	if s.watchers == nil {
		s.watchers = map[string]*pollWatcher{}
	}
	n := len(s.watchers)
	s.watchMu.Unlock()
	if n >= maxPollWatchers {
		return nil, connect.Errorf(connect.ResourceExhausted, "%d watchers exist; remove some with RemoveWatcher", n)
	}
	w, root, err := s.openWatcher(req.HTTP, &in)
	if err != nil {
		return nil, err
	}
	pw := &pollWatcher{w: w}
	id := newID()
	s.watchMu.Lock()
	s.watchers[id] = pw
	s.watchMu.Unlock()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.Logf("panic in watcher %s: %v at %s", id, p, connect.PanicLocation())
			}
		}()
		_ = w.Run(func(ev wire.FilesystemEvent) {
			ev = s.decorate(ev, root, in.IncludeEntry)
			pw.mu.Lock()
			pw.events = append(pw.events, ev)
			if len(pw.events) > maxPendingWatchEvts {
				pw.events = append([]wire.FilesystemEvent(nil), pw.events[len(pw.events)-maxPendingWatchEvts:]...)
			}
			pw.mu.Unlock()
		})
	}()
	return wire.CreateWatcherResponse{WatcherID: id}, nil
}

func (s *Service) lookupWatcher(id string) (*pollWatcher, error) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if pw, ok := s.watchers[id]; ok {
		return pw, nil
	}
	return nil, connect.Errorf(connect.NotFound, "watcher %q not found", id)
}

func (s *Service) getWatcherEvents(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.WatcherRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	pw, err := s.lookupWatcher(in.WatcherID)
	if err != nil {
		return nil, err
	}
	pw.mu.Lock()
	evs := pw.events
	pw.events = nil
	pw.mu.Unlock()
	return wire.GetWatcherEventsResponse{Events: evs}, nil
}

func (s *Service) removeWatcher(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.WatcherRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	s.watchMu.Lock()
	pw, ok := s.watchers[in.WatcherID]
	delete(s.watchers, in.WatcherID)
	s.watchMu.Unlock()
	if !ok {
		return nil, connect.Errorf(connect.NotFound, "watcher %q not found", in.WatcherID)
	}
	_ = pw.w.Close()
	return wire.Empty{}, nil
}
