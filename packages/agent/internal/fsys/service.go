package fsys

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/state"
	"burrow/agent/internal/users"
	"burrow/agent/internal/wire"
)

// Service implements filesystem.Filesystem and the /files endpoints. File
// operations run with the requesting user's credentials (asUser): the kernel
// allows them exactly as it would the user's own programs, relative paths
// start at the user's home, and what gets created belongs to the user.
type Service struct {
	State *state.State
	Logf  func(format string, args ...interface{})

	watchMu  sync.Mutex
	watchers map[string]*pollWatcher
}

const svc = "filesystem.Filesystem"

// Register adds the procedures of filesystem.Filesystem to mux.
func (s *Service) Register(mux *connect.Mux) {
	mux.Unary(connect.Procedure(svc, "Stat"), s.stat)
	mux.Unary(connect.Procedure(svc, "MakeDir"), s.makeDir)
	mux.Unary(connect.Procedure(svc, "Move"), s.move)
	mux.Unary(connect.Procedure(svc, "ListDir"), s.listDir)
	mux.Unary(connect.Procedure(svc, "Remove"), s.remove)
	mux.Stream(connect.Procedure(svc, "WatchDir"), s.watchDir)
	mux.Unary(connect.Procedure(svc, "CreateWatcher"), s.createWatcher)
	mux.Unary(connect.Procedure(svc, "GetWatcherEvents"), s.getWatcherEvents)
	mux.Unary(connect.Procedure(svc, "RemoveWatcher"), s.removeWatcher)
}

// userPath resolves the request's user and a path for it.
func (s *Service) userPath(r *http.Request, path string) (*users.User, string, error) {
	u, err := s.State.ResolveUser(state.RequestUsername(r))
	if err != nil {
		return nil, "", err
	}
	p, err := s.State.ResolvePath(path, u)
	if err != nil {
		return nil, "", err
	}
	return u, p, nil
}

func (s *Service) stat(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.PathRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	u, path, err := s.userPath(req.HTTP, in.Path)
	if err != nil {
		return nil, err
	}
	var e *wire.EntryInfo
	err = asUser(u, func() (err error) {
		e, err = entryInfo(s.State.Users, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return wire.EntryResponse{Entry: e}, nil
}

func (s *Service) makeDir(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.PathRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	u, path, err := s.userPath(req.HTTP, in.Path)
	if err != nil {
		return nil, err
	}
	var e *wire.EntryInfo
	err = asUser(u, func() error {
		if st, err := os.Stat(path); err == nil {
			if st.IsDir() {
				return connect.Errorf(connect.AlreadyExists, "directory '%s' already exists", path)
			}
			return connect.Errorf(connect.InvalidArgument, "'%s' already exists and is not a directory", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return statError(path, err)
		}
		if err := ensureDirs(path, u.UID, u.GID); err != nil {
			return err
		}
		e, err = entryInfo(s.State.Users, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return wire.EntryResponse{Entry: e}, nil
}

func (s *Service) move(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.MoveRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if in.Source == "" || in.Destination == "" {
		return nil, connect.Errorf(connect.InvalidArgument, "source and destination are required")
	}
	u, src, err := s.userPath(req.HTTP, in.Source)
	if err != nil {
		return nil, err
	}
	dst, err := s.State.ResolvePath(in.Destination, u)
	if err != nil {
		return nil, err
	}
	var e *wire.EntryInfo
	err = asUser(u, func() error {
		if _, err := os.Lstat(src); err != nil {
			return statError(src, err)
		}
		if err := ensureDirs(filepath.Dir(dst), u.UID, u.GID); err != nil {
			return err
		}
		if err := os.Rename(src, dst); err != nil {
			return statError(dst, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// As root, like every change to the metadata store; then the entry, with it.
	fileMeta.move(src, dst)
	err = asUser(u, func() (err error) {
		e, err = entryInfo(s.State.Users, dst)
		return err
	})
	if err != nil {
		return nil, err
	}
	return wire.EntryResponse{Entry: e}, nil
}

func (s *Service) listDir(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.ListDirRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	depth := int(in.Depth)
	if depth == 0 {
		depth = 1
	}
	u, path, err := s.userPath(req.HTTP, in.Path)
	if err != nil {
		return nil, err
	}
	var out wire.ListDirResponse
	err = asUser(u, func() error {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return statError(path, err)
		}
		st, err := os.Stat(target)
		if err != nil {
			return statError(path, err)
		}
		if !st.IsDir() {
			return connect.Errorf(connect.InvalidArgument, "'%s' is not a directory", path)
		}
		return s.walk(ctx, target, path, depth, &out.Entries)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walk lists dir (reported under the name shown) down to depth levels,
// without following symlinks below the top. Subdirectories that vanish or
// that the user may not read are listed but not descended into.
func (s *Service) walk(ctx context.Context, dir, shown string, depth int, out *[]*wire.EntryInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return statError(shown, err)
	}
	for _, de := range ents {
		e, err := entryInfo(s.State.Users, filepath.Join(dir, de.Name()))
		if err != nil {
			continue // vanished while listing
		}
		e.Path = filepath.Join(shown, de.Name())
		*out = append(*out, e)
		if depth > 1 && de.IsDir() {
			if err := s.walk(ctx, filepath.Join(dir, de.Name()), e.Path, depth-1, out); err != nil {
				var ce *connect.Error
				if errors.As(err, &ce) && (ce.Code == connect.NotFound || ce.Code == connect.PermissionDenied) {
					continue
				}
				return err
			}
		}
	}
	return nil
}

func (s *Service) remove(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.PathRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if in.Path == "" {
		return nil, connect.Errorf(connect.InvalidArgument, "path is required")
	}
	u, path, err := s.userPath(req.HTTP, in.Path)
	if err != nil {
		return nil, err
	}
	if err := asUser(u, func() error {
		if err := os.RemoveAll(path); err != nil {
			return statError(path, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	fileMeta.removeTree(path)
	return wire.Empty{}, nil
}
