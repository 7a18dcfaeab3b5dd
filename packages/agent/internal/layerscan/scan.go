package layerscan

import (
	"os"
	"sort"
	"strconv"
	"syscall"
	"unicode/utf16"
)

// Entry describes one thing in the upper dir, in the shape of the server's manifest entries.
type Entry struct {
	Path    string `json:"path"`
	Type    string `json:"type"`
	Mode    uint32 `json:"mode"`
	UID     uint32 `json:"uid"`
	GID     uint32 `json:"gid"`
	MtimeNs string `json:"mtimeNs"`
	Size    int64  `json:"size"`
	Ino     string `json:"ino"`
	CtimeNs string `json:"ctimeNs"`
	Target  string `json:"target,omitempty"`
	Opaque  bool   `json:"opaque,omitempty"`
	// Changed is set on files copied into the stage (new, or different from the previous scan).
	Changed bool `json:"changed,omitempty"`
}

// Known is what the previous checkpoint recorded about a file whose contents it holds.
type Known struct {
	Size    int64
	MtimeNs string
	CtimeNs string
	Ino     string
}

// Visitor decides, for each regular file, whether its contents must be copied, and copies them
// from the open descriptor; it returns false when the file must be left out (it changed kind).
type Visitor func(e *Entry, fd int, st *syscall.Stat_t) (bool, error)

// Scan walks root in pre-order (a directory, then its children in the order JavaScript sorts
// their names) and returns every directory, file, symlink, whiteout and FIFO. Regular files
// that differ from known are opened (no-follow) and handed to copy. Entries that vanish or
// change kind during the walk are left out.
func Scan(rootFd int, known map[string]Known, copy Visitor) ([]Entry, error) {
	var out []Entry
	err := walk(rootFd, "", &out, known, copy)
	return out, err
}

func walk(dirFd int, rel string, out *[]Entry, known map[string]Known, copy Visitor) error {
	names, types, err := readNames(dirFd)
	if err != nil {
		if absent(err) {
			return nil
		}
		return err
	}
	for i, name := range names {
		path := name
		if rel != "" {
			path = rel + "/" + name
		}
		if _, isKnown := known[path]; types[i] == os.FileMode(0) && !isKnown {
			// A regular file (by its directory entry) the previous checkpoint does not hold:
			// opened and described from the descriptor, without a separate lstat.
			e := Entry{Path: path}
			keep, err := copyFile(dirFd, name, &e, copy)
			if err != nil {
				return err
			}
			if keep {
				*out = append(*out, e)
				continue
			}
			// not a regular file any more (or gone): described below like any other entry
		}
		var st syscall.Stat_t
		if err := lstatAt(dirFd, name, &st); err != nil {
			if absent(err) {
				continue
			}
			return err
		}
		e := entryOf(path, &st)
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			child, err := openAt(dirFd, name, dirFlags)
			if err != nil {
				if absent(err) {
					continue
				}
				return err
			}
			e.Type = "dir"
			e.Opaque = isOpaque(child)
			*out = append(*out, e)
			err = walk(child, path, out, known, copy)
			closeFd(child)
			if err != nil {
				return err
			}
		case syscall.S_IFLNK:
			target, err := readlinkAt(dirFd, name)
			if err != nil {
				if absent(err) {
					continue
				}
				return err
			}
			e.Type = "symlink"
			e.Target = target
			*out = append(*out, e)
		case syscall.S_IFCHR:
			if st.Rdev != 0 {
				continue // devices are not kept
			}
			e.Type = "whiteout"
			e.Size = 0
			*out = append(*out, e)
		case syscall.S_IFIFO:
			e.Type = "fifo"
			e.Size = 0
			*out = append(*out, e)
		case syscall.S_IFREG:
			if k, ok := known[path]; ok && k.Size == e.Size && k.MtimeNs == e.MtimeNs && k.CtimeNs == e.CtimeNs && k.Ino == e.Ino {
				*out = append(*out, e)
				continue
			}
			keep, err := copyFile(dirFd, name, &e, copy)
			if err != nil {
				return err
			}
			if keep {
				*out = append(*out, e)
			}
		}
	}
	return nil
}

// copyFile opens a changed file without following a link, describes it from the open
// descriptor (what is copied is what is described) and hands it to copy.
func copyFile(dirFd int, name string, e *Entry, copy Visitor) (bool, error) {
	fd, err := openAt(dirFd, name, fileFlags)
	if err != nil {
		if absent(err) {
			return false, nil
		}
		return false, err
	}
	defer closeFd(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return false, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return false, nil
	}
	*e = entryOf(e.Path, &st)
	e.Changed = true
	return copy(e, fd, &st)
}

func entryOf(path string, st *syscall.Stat_t) Entry {
	return Entry{
		Path:    path,
		Type:    "file",
		Mode:    st.Mode & 0o7777,
		UID:     st.Uid,
		GID:     st.Gid,
		MtimeNs: strconv.FormatInt(st.Mtim.Sec*1e9+st.Mtim.Nsec, 10),
		Size:    st.Size,
		Ino:     strconv.FormatUint(st.Ino, 10),
		CtimeNs: strconv.FormatInt(st.Ctim.Sec*1e9+st.Ctim.Nsec, 10),
	}
}

// readNames lists a directory through a duplicate of its descriptor, sorted as JavaScript
// sorts strings (UTF-16 code units), so entries come in the same order as the server's walk;
// with each entry's type bits from the directory entry (0 for a regular file).
func readNames(dirFd int) ([]string, []os.FileMode, error) {
	dup, err := syscall.Dup(dirFd)
	if err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	list, err := f.ReadDir(-1)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return nil, nil, pe.Err
		}
		return nil, nil, err
	}
	sort.Slice(list, func(i, j int) bool { return lessUTF16(list[i].Name(), list[j].Name()) })
	names := make([]string, len(list))
	types := make([]os.FileMode, len(list))
	for i, d := range list {
		names[i] = d.Name()
		types[i] = d.Type()
	}
	return names, types, nil
}

func lessUTF16(a, b string) bool {
	ascii := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	if ascii(a) && ascii(b) {
		return a < b
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}
