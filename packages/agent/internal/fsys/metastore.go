package fsys

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// DefaultMetadataDir holds file metadata for paths whose filesystem refuses
// user.* xattrs. In gVisor the root filesystem is such a filesystem: its gofer
// answers EOPNOTSUPP to setxattr (measured with runsc 20240729,
// --overlay2=none, with and without --directfs), while the sandbox's tmpfs
// mounts (/tmp, /dev/shm) keep xattrs. The directory is on the root
// filesystem, so the metadata is kept wherever the files are kept
// (hibernation, checkpoints, forks, restarts).
const DefaultMetadataDir = "/var/lib/burrow-agent/file-metadata"

// metaStore keeps the metadata of one path in one file, named by the sha256 of
// the path, holding the path and its metadata. It follows the agent's own
// operations (write, move, remove); changes made by other programs in the
// sandbox (mv, rm) do not carry it along. The directory is 0711 and its files
// 0644: a file's metadata is read by whoever knows (and may stat) its path.
type metaStore struct {
	mu  sync.Mutex
	dir string
	// used is set once the store holds (or may hold) a record; until then a
	// lookup costs no file system call (listing a large folder stays cheap).
	used    atomic.Bool
	checked atomic.Bool
}

// fileMeta is the agent's metadata store; tests point it elsewhere.
var fileMeta = &metaStore{dir: DefaultMetadataDir}

// setxattr is syscall.Setxattr; tests replace it to act as gVisor's rootfs.
var setxattr = syscall.Setxattr

// WithoutXattrsForTest makes the agent behave as on a filesystem without
// user.* xattrs, keeping metadata in dir, until the returned func is called.
func WithoutXattrsForTest(dir string) (restore func()) {
	prevDir, prevSet := fileMeta.dir, setxattr
	fileMeta.dir = dir
	fileMeta.checked.Store(false)
	fileMeta.used.Store(false)
	setxattr = func(string, string, []byte, int) error { return syscall.EOPNOTSUPP }
	return func() { fileMeta.dir, setxattr = prevDir, prevSet }
}

type metaRecord struct {
	Path     string            `json:"path"`
	Metadata map[string]string `json:"metadata"`
}

func (m *metaStore) file(path string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(path)))
	return filepath.Join(m.dir, hex.EncodeToString(sum[:])+".json")
}

// inUse reports whether the store may hold records: whether its directory
// exists (made by the first record). Only the agent writes it, so one look per
// agent start is enough; a stat, which any user's thread may do (lookups run
// with the credentials of the user a call names, who cannot list the 0711
// directory).
func (m *metaStore) inUse() bool {
	if !m.checked.Load() {
		if _, err := os.Stat(m.dir); err == nil {
			m.used.Store(true)
		}
		m.checked.Store(true)
	}
	return m.used.Load()
}

// get returns the metadata stored for path, or nil.
func (m *metaStore) get(path string) map[string]string {
	if !m.inUse() {
		return nil
	}
	data, err := os.ReadFile(m.file(path))
	if err != nil {
		return nil
	}
	var rec metaRecord
	if json.Unmarshal(data, &rec) != nil || rec.Path != filepath.Clean(path) {
		return nil
	}
	return rec.Metadata
}

// put replaces the metadata of path; empty metadata removes it.
func (m *metaStore) put(path string, md map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.putLocked(path, md)
}

func (m *metaStore) putLocked(path string, md map[string]string) error {
	target := m.file(path)
	if len(md) == 0 {
		if !m.inUse() {
			return nil
		}
		if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	m.used.Store(true)
	if err := os.MkdirAll(m.dir, 0o711); err != nil {
		return err
	}
	data, err := json.Marshal(metaRecord{Path: filepath.Clean(path), Metadata: md})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(m.dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// under calls fn for every stored record of path or of a path below it.
func (m *metaStore) under(path string, fn func(rec metaRecord)) {
	if !m.inUse() {
		return
	}
	path = filepath.Clean(path)
	if rec := m.get(path); rec != nil {
		fn(metaRecord{Path: path, Metadata: rec})
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(m.dir, e.Name()))
		if err != nil {
			continue
		}
		var rec metaRecord
		if json.Unmarshal(data, &rec) == nil && strings.HasPrefix(rec.Path, prefix) {
			fn(rec)
		}
	}
}

// move carries the metadata of src (and of everything below it) to dst.
func (m *metaStore) move(src, dst string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	src, dst = filepath.Clean(src), filepath.Clean(dst)
	if src == dst {
		return
	}
	// Whatever dst held before was replaced by the rename.
	m.under(dst, func(rec metaRecord) { _ = m.putLocked(rec.Path, nil) })
	m.under(src, func(rec metaRecord) {
		_ = m.putLocked(dst+strings.TrimPrefix(rec.Path, src), rec.Metadata)
		_ = m.putLocked(rec.Path, nil)
	})
}

// removeTree forgets the metadata of path and of everything below it.
func (m *metaStore) removeTree(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.under(path, func(rec metaRecord) { _ = m.putLocked(rec.Path, nil) })
}

// xattrUnsupported reports a filesystem that stores no user.* xattrs.
func xattrUnsupported(err error) bool {
	return errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}
