package fsys

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/users"
)

// uploadBufferBytes is the copy buffer of an upload; bodies are streamed to
// disk, never held in memory.
const uploadBufferBytes = 1 << 20

// writeInfo is one element of the upload reply, as envd sends it.
type writeInfo struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Path     string            `json:"path"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// resolved is the file written (dest with a final symlink followed).
	resolved string
	// storeMetadata is the metadata the store must keep for resolved (nil:
	// none, which also clears what an overwritten file had).
	storeMetadata map[string]string
}

// metadataHeaders collects X-Metadata-<key> headers (keys lowercased).
func metadataHeaders(h http.Header) map[string]string {
	var md map[string]string
	for name, vals := range h {
		if len(vals) == 0 || !strings.HasPrefix(name, "X-Metadata-") {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, "X-Metadata-"))
		if key == "" {
			continue
		}
		if md == nil {
			md = map[string]string{}
		}
		md[key] = vals[0]
	}
	return md
}

func (s *Service) upload(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorizeFiles(r, "write"); err != nil {
		return err
	}
	u, err := s.filesUser(r)
	if err != nil {
		return err
	}
	md := metadataHeaders(r.Header)
	if err := validateMetadata(md); err != nil {
		return herr(http.StatusBadRequest, "invalid metadata: %v", err)
	}
	body := io.Reader(r.Body)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return herr(http.StatusBadRequest, "invalid gzip body: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return herr(http.StatusBadRequest, "unsupported Content-Encoding %q; use gzip or none", enc)
	}

	q := r.URL.Query()
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var out []writeInfo
	switch {
	case mt == "application/octet-stream":
		if q.Get("path") == "" {
			return herr(http.StatusBadRequest, "the path query parameter is required for an application/octet-stream upload")
		}
		info, err := s.writeOne(q.Get("path"), body, u, md)
		if err != nil {
			return err
		}
		out = append(out, info)
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" {
			return herr(http.StatusBadRequest, "multipart body without a boundary")
		}
		mr := multipart.NewReader(body, params["boundary"])
		seen := map[string]bool{}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return herr(http.StatusBadRequest, "reading multipart body: %v", err)
			}
			if part.FormName() != "file" {
				part.Close()
				continue
			}
			dest := q.Get("path")
			if dest == "" {
				dest = partFilename(part)
			}
			if dest == "" {
				part.Close()
				return herr(http.StatusBadRequest, "a file part needs a filename, or pass the path query parameter")
			}
			resolved, err := users.ResolvePath(dest, u, s.State.DefaultWorkdir())
			if err != nil {
				part.Close()
				return herr(http.StatusBadRequest, "%v", err)
			}
			if seen[resolved] {
				part.Close()
				return herr(http.StatusBadRequest, "several files in one upload target '%s'", resolved)
			}
			seen[resolved] = true
			info, err := s.writeOne(dest, part, u, md)
			part.Close()
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		if len(out) == 0 {
			return herr(http.StatusBadRequest, "the multipart body has no part named \"file\"")
		}
	default:
		return herr(http.StatusBadRequest, "unsupported Content-Type %q; use multipart/form-data or application/octet-stream", r.Header.Get("Content-Type"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(out)
}

// partFilename is the filename of a part as sent, directories included
// (multipart.Part.FileName would keep only the base name).
func partFilename(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

// writeOne writes r to dest for u: parents are created (owned by u), the data
// goes to a temporary file in the destination directory which is then renamed
// over dest, so readers never see a partial file.
func (s *Service) writeOne(dest string, r io.Reader, u *users.User, md map[string]string) (info writeInfo, err error) {
	err = asUser(u, func() (err error) {
		info, err = s.writeOneAs(dest, r, u, md)
		return err
	})
	if err != nil {
		return info, err
	}
	// As root: the metadata store is not writable by users.
	if err := fileMeta.put(info.resolved, info.storeMetadata); err != nil {
		return info, herr(http.StatusInternalServerError, "storing the metadata of %s: %v", info.resolved, err)
	}
	if len(info.storeMetadata) > 0 {
		info.Metadata = info.storeMetadata
	}
	return info, nil
}

// writeOneAs is writeOne on the thread that has u's credentials.
func (s *Service) writeOneAs(dest string, r io.Reader, u *users.User, md map[string]string) (writeInfo, error) {
	path, err := users.ResolvePath(dest, u, s.State.DefaultWorkdir())
	if err != nil {
		return writeInfo{}, herr(http.StatusBadRequest, "%v", err)
	}
	shown := path
	mode := os.FileMode(0o644)
	existed := false
	if fi, err := os.Lstat(path); err == nil {
		existed = true
		if fi.Mode()&os.ModeSymlink != 0 {
			if target, err := filepath.EvalSymlinks(path); err == nil {
				path = target
				fi, _ = os.Stat(path)
			}
		}
		if fi != nil && fi.IsDir() {
			return writeInfo{}, herr(http.StatusBadRequest, "path '%s' is a directory", path)
		}
		if fi != nil && fi.Mode().IsRegular() {
			mode = fi.Mode().Perm()
		}
	}
	if err := ensureDirs(filepath.Dir(path), u.UID, u.GID); err != nil {
		return writeInfo{}, fromConnect(err)
	}
	tmp, err := uploads.createTemp(path, existed)
	if err != nil {
		return writeInfo{}, diskError(path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
		uploads.done(tmp.Name())
	}()
	if err := tmp.Chmod(mode); err != nil {
		return writeInfo{}, diskError(path, err)
	}
	if err := chown(tmp.Name(), u.UID, u.GID); err != nil {
		return writeInfo{}, diskError(path, err)
	}
	if _, err := io.CopyBuffer(tmp, r, make([]byte, uploadBufferBytes)); err != nil {
		return writeInfo{}, diskError(path, err)
	}
	if err := tmp.Close(); err != nil {
		return writeInfo{}, diskError(path, err)
	}
	inXattrs, err := writeMetadata(tmp.Name(), md)
	if err != nil {
		return writeInfo{}, diskError(path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return writeInfo{}, diskError(path, err)
	}
	ok = true
	info := writeInfo{Name: filepath.Base(shown), Type: "file", Path: shown, resolved: path}
	if !inXattrs && len(md) > 0 {
		info.storeMetadata = md
	}
	if got := readXattrMetadata(path); len(got) > 0 {
		info.Metadata = got
	}
	return info, nil
}

// fromConnect turns a Connect error into a /files error with the matching status.
func fromConnect(err error) error {
	ce := connect.AsError(err)
	return herr(connect.HTTPStatus(ce.Code), "%s", ce.Message)
}

// diskError classifies a write failure: 507 when out of space, 400 when the
// request body broke off, else the status of the file system's refusal
// (statError), 500 only for the unexpected.
func diskError(path string, err error) error {
	switch {
	case isNoSpace(err):
		return herr(http.StatusInsufficientStorage, "not enough disk space to write '%s'", path)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return herr(http.StatusBadRequest, "the upload of '%s' was cut short: %v", path, err)
	}
	return fromConnect(statError(path, err))
}
