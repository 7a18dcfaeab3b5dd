// Package fsys implements the filesystem.Filesystem service, directory
// watching with inotify, and the /files upload and download endpoints.
package fsys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/users"
	"burrow/agent/internal/wire"
)

// metadataPrefix is the xattr namespace of user-defined file metadata.
const metadataPrefix = "user.e2b."

// entryInfo describes path without following a final symlink; for a symlink
// the type and permission bits are those of its target, as in envd.
func entryInfo(db *users.DB, path string) (*wire.EntryInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, statError(path, err)
	}
	mode := fi.Mode()
	e := &wire.EntryInfo{
		Name:        fi.Name(),
		Path:        path,
		Size:        fi.Size(),
		Permissions: mode.String(),
	}
	if mode&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			target = path
		}
		e.SymlinkTarget = &target
		if tfi, err := os.Stat(target); err == nil {
			e.Type = fileType(tfi.Mode())
			e.Mode = uint32(tfi.Mode().Perm())
		}
	} else {
		e.Type = fileType(mode)
		e.Mode = uint32(mode.Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Owner = db.UserName(st.Uid)
		e.Group = db.GroupName(st.Gid)
	}
	if mt := fi.ModTime(); !mt.IsZero() {
		ts := wire.Timestamp(mt)
		e.ModifiedTime = &ts
	}
	if md := readMetadata(path); len(md) > 0 {
		e.Metadata = md
	}
	return e, nil
}

func fileType(m os.FileMode) wire.FileType {
	switch {
	case m.IsRegular():
		return wire.FileTypeFile
	case m.IsDir():
		return wire.FileTypeDirectory
	case m&os.ModeSymlink != 0:
		return wire.FileTypeSymlink
	}
	return wire.FileTypeUnspecified
}

// chown gives path to uid:gid when the agent can (it runs as root in a sandbox).
func chown(path string, uid, gid uint32) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(path, int(uid), int(gid))
}

// ensureDirs creates dir and its missing parents, each owned by uid:gid.
func ensureDirs(dir string, uid, gid uint32) error {
	dir = filepath.Clean(dir)
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return connect.Errorf(connect.InvalidArgument, "'%s' exists and is not a directory", p)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return statError(p, err)
		}
		missing = append(missing, p)
		if p == "/" || p == "." {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return statError(p, err)
		}
		if err := chown(p, uid, gid); err != nil {
			return statError(p, err)
		}
	}
	return nil
}

// readMetadata returns the user.e2b.* extended attributes of path, prefix
// stripped, or else what the metadata store holds for path (filesystems
// without xattrs).
func readMetadata(path string) map[string]string {
	if md := readXattrMetadata(path); len(md) > 0 {
		return md
	}
	return fileMeta.get(path)
}

func readXattrMetadata(path string) map[string]string {
	size, err := syscall.Listxattr(path, nil)
	if err != nil || size <= 0 {
		return nil
	}
	buf := make([]byte, size)
	if size, err = syscall.Listxattr(path, buf); err != nil {
		return nil
	}
	var out map[string]string
	for _, name := range strings.Split(string(buf[:size]), "\x00") {
		if !strings.HasPrefix(name, metadataPrefix) {
			continue
		}
		val := make([]byte, 4096)
		n, err := syscall.Getxattr(path, name, val)
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[strings.TrimPrefix(name, metadataPrefix)] = string(val[:n])
	}
	return out
}

// validateMetadata checks keys and values are printable ASCII and within the
// xattr size limits.
func validateMetadata(md map[string]string) error {
	total := 0
	for k, v := range md {
		if k == "" || len(k) > 246 || !printable(k) || !printable(v) {
			return fmt.Errorf("metadata key %q: keys (1-246 bytes) and values must be printable ASCII", k)
		}
		total += len(metadataPrefix) + len(k) + len(v)
	}
	if total > 4096 {
		return fmt.Errorf("metadata is %d bytes; at most 4096 fit on a file", total)
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// writeMetadata replaces the user.e2b.* attributes of path with md. It
// reports stored=false, without error, when the filesystem keeps no user.*
// xattrs: the caller then keeps md in the metadata store.
func writeMetadata(path string, md map[string]string) (stored bool, err error) {
	for k := range readXattrMetadata(path) {
		_ = syscall.Removexattr(path, metadataPrefix+k)
	}
	for k, v := range md {
		if err := setxattr(path, metadataPrefix+k, []byte(v), 0); err != nil {
			if xattrUnsupported(err) {
				for k := range md {
					_ = syscall.Removexattr(path, metadataPrefix+k)
				}
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}
