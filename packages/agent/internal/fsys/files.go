package fsys

import (
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"burrow/agent/internal/state"
	"burrow/agent/internal/users"
)

// httpError is an error of the /files endpoints, answered as envd does:
// {"code": <http status>, "message": "..."}.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func herr(status int, format string, args ...interface{}) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// WriteHTTPError writes err as envd's JSON error body.
func WriteHTTPError(w http.ResponseWriter, err error) {
	he, ok := err.(*httpError)
	if !ok {
		he = herr(http.StatusInternalServerError, "%v", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(he.status)
	_ = json.NewEncoder(w).Encode(map[string]interface{}{"code": he.status, "message": he.msg})
}

// Signature computes the envd-compatible signature that authorizes a /files
// operation ("read" or "write") without the access token header:
// "v1_" + unpadded base64 of sha256("path:operation:username:token[:expiration]").
func Signature(path, operation, username, token string, expiration *int64) string {
	raw := strings.Join([]string{path, operation, username, token}, ":")
	if expiration != nil {
		raw += ":" + strconv.FormatInt(*expiration, 10)
	}
	sum := sha256.Sum256([]byte(raw))
	return "v1_" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// authorizeFiles lets a request through when no token is set, when it carries
// the token, or when it carries a valid, unexpired signature.
func (s *Service) authorizeFiles(r *http.Request, operation string) error {
	token := s.State.Token()
	if token == "" {
		return nil
	}
	if h := r.Header.Get("X-Access-Token"); h != "" {
		if s.State.TokenMatches(h) {
			return nil
		}
		return herr(http.StatusUnauthorized, "the X-Access-Token header does not match the access token")
	}
	q := r.URL.Query()
	sig := q.Get("signature")
	if sig == "" {
		return herr(http.StatusUnauthorized, "missing X-Access-Token header or signature query parameter")
	}
	var exp *int64
	if v := q.Get("signature_expiration"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return herr(http.StatusBadRequest, "invalid signature_expiration %q", v)
		}
		exp = &n
	}
	want := Signature(q.Get("path"), operation, q.Get("username"), token, exp)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return herr(http.StatusUnauthorized, "invalid signature")
	}
	if exp != nil && *exp < time.Now().Unix() {
		// E2B's envd says this very sentence; programs written for E2B look for it.
		return herr(http.StatusUnauthorized, "signature is already expired (at %d)", *exp)
	}
	return nil
}

// filesUser resolves the user of a /files request: the username query
// parameter, else Basic authorization, else the default user.
func (s *Service) filesUser(r *http.Request) (*users.User, error) {
	name := r.URL.Query().Get("username")
	if name == "" {
		name = state.RequestUsername(r)
	}
	u, err := s.State.ResolveUser(name)
	if err != nil {
		return nil, herr(http.StatusUnauthorized, "%v", err)
	}
	return u, nil
}

// ServeFiles handles GET and POST /files.
func (s *Service) ServeFiles(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		err = s.download(w, r)
	case http.MethodPost, http.MethodPut:
		err = s.upload(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		err = herr(http.StatusMethodNotAllowed, "method %s not allowed on /files", r.Method)
	}
	if err != nil {
		WriteHTTPError(w, err)
	}
}

func (s *Service) download(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorizeFiles(r, "read"); err != nil {
		return err
	}
	u, err := s.filesUser(r)
	if err != nil {
		return err
	}
	path, err := users.ResolvePath(r.URL.Query().Get("path"), u, s.State.DefaultWorkdir())
	if err != nil {
		return herr(http.StatusBadRequest, "%v", err)
	}
	var st os.FileInfo
	var f *os.File
	err = asUser(u, func() error {
		if st, err = os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return herr(http.StatusNotFound, "path '%s' does not exist", path)
			}
			return fromConnect(statError(path, err))
		}
		if st.IsDir() {
			return herr(http.StatusBadRequest, "path '%s' is a directory", path)
		}
		if f, err = os.Open(path); err != nil {
			return fromConnect(statError(path, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": filepath.Base(path)}))
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	if wantsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return nil
		}
		zw := gzip.NewWriter(w)
		if _, err := io.Copy(zw, f); err != nil {
			s.Logf("download %s: %v", path, err)
		}
		_ = zw.Close()
		return nil
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}

// wantsGzip is true when the client accepts gzip and asks for no range.
func wantsGzip(r *http.Request) bool {
	if r.Header.Get("Range") != "" {
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		fields := strings.Split(part, ";")
		if strings.TrimSpace(strings.ToLower(fields[0])) != "gzip" {
			continue
		}
		for _, p := range fields[1:] {
			p = strings.TrimSpace(p)
			if strings.HasPrefix(p, "q=") {
				if q, err := strconv.ParseFloat(p[2:], 64); err == nil && q == 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// isNoSpace reports whether err means the disk (or inode table) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
