package layerscan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
)

// StagedCopy says where one changed file's bytes lie in the stage's files.dat.
type StagedCopy struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
}

// Stage appends changed files one after another to files.dat and records them for files.json.
// Small files are gathered in a buffer and written a few MiB at a time.
type Stage struct {
	dir     string
	out     *os.File
	written int64 // bytes already in files.dat
	buf     []byte
	used    int // bytes of buf holding data not yet written
	Copies  []StagedCopy
}

const stageBufferBytes = 4 << 20

// NewStage creates files.dat (mode 0600) in dir, which must exist.
func NewStage(dir string) (*Stage, error) {
	out, err := os.OpenFile(filepath.Join(dir, "files.dat"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &Stage{dir: dir, out: out, buf: make([]byte, stageBufferBytes), Copies: []StagedCopy{}}, nil
}

// Add copies up to st.Size bytes of the open file fd (a file shorter than that is copied as it is).
func (s *Stage) Add(e *Entry, fd int, st *syscall.Stat_t) (bool, error) {
	offset := s.written + int64(s.used)
	var done int64
	for done < st.Size {
		if s.used == len(s.buf) {
			if err := s.flush(); err != nil {
				return false, err
			}
		}
		want := int64(len(s.buf) - s.used)
		if st.Size-done < want {
			want = st.Size - done
		}
		n, err := pread(fd, s.buf[s.used:s.used+int(want)], done)
		if err != nil {
			return false, err
		}
		if n == 0 {
			break
		}
		s.used += n
		done += int64(n)
	}
	e.Size = done
	s.Copies = append(s.Copies, StagedCopy{Path: e.Path, Offset: offset, Size: done})
	return true, nil
}

func (s *Stage) flush() error {
	if s.used == 0 {
		return nil
	}
	if _, err := s.out.WriteAt(s.buf[:s.used], s.written); err != nil {
		return err
	}
	s.written += int64(s.used)
	s.used = 0
	return nil
}

// Finish writes what is buffered, closes files.dat and writes files.json.
func (s *Stage) Finish() error {
	if err := s.flush(); err != nil {
		s.out.Close()
		return err
	}
	if err := s.out.Close(); err != nil {
		return err
	}
	index, err := json.Marshal(s.Copies)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "files.json"), index, 0o600)
}

// Close releases files.dat without writing the index (on failure).
func (s *Stage) Close() { s.out.Close() }
