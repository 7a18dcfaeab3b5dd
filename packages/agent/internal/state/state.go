// Package state holds the sandbox-wide settings that POST /init changes: the
// access token, environment variables for new processes, the default user and
// the default working directory.
package state

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"syscall"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/users"
)

// Options are the initial settings.
type Options struct {
	Token          string
	DefaultUser    string
	DefaultWorkdir string
	Users          *users.DB
	// TokenFile, when set, is where the host leaves a new access token for
	// the agent (a root-only file in the host-written run dir): read and
	// removed at start (ReadTokenFile) and whenever a request's token does
	// not match, so the server can take back an agent whose token was changed
	// from inside the sandbox.
	TokenFile string
}

// State is safe for concurrent use.
type State struct {
	Users *users.DB

	tokenFile string

	mu             sync.RWMutex
	token          string
	envVars        map[string]string
	defaultUser    string
	defaultWorkdir string
}

// New returns the state for opts.
func New(opts Options) *State {
	return &State{
		Users:          opts.Users,
		tokenFile:      opts.TokenFile,
		token:          opts.Token,
		envVars:        map[string]string{},
		defaultUser:    opts.DefaultUser,
		defaultWorkdir: opts.DefaultWorkdir,
	}
}

// TokenSet reports whether requests must carry an access token.
func (s *State) TokenSet() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.token != ""
}

// Token returns the current access token ("" when none).
func (s *State) Token() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.token
}

// TokenMatches compares candidate with the current token in constant time.
// It is true when no token is set. On a mismatch, a token the host left in
// the token file replaces the current one first.
func (s *State) TokenMatches(candidate string) bool {
	if s.tokenMatches(candidate) {
		return true
	}
	if s.tokenFile == "" {
		return false
	}
	tok, err := ReadTokenFile(s.tokenFile)
	if err != nil || tok == "" {
		return false
	}
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
	return s.tokenMatches(candidate)
}

func (s *State) tokenMatches(candidate string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.token == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(s.token), []byte(candidate)) == 1
}

// ReadTokenFile reads the access token from path and removes the file. The
// file must be a regular file owned by root and readable by root alone (mode
// 0600 or stricter), so nobody but root in the sandbox or the host can have
// put it there. A missing file is os.ErrNotExist.
func ReadTokenFile(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o077 != 0 {
		_ = os.Remove(path)
		return "", fmt.Errorf("%s is not a root-only regular file; ignored", path)
	}
	buf := make([]byte, 4097)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return "", err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	tok := string(bytes.TrimSpace(buf[:n]))
	if n > 4096 || tok == "" {
		return "", fmt.Errorf("%s does not hold a token", path)
	}
	return tok, nil
}

// Update applies an /init request. Nil fields are left unchanged; an empty
// token removes token checking; envVars replaces the whole set.
func (s *State) Update(token *string, envVars map[string]string, defaultUser, defaultWorkdir *string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != nil {
		s.token = *token
	}
	if envVars != nil {
		cp := make(map[string]string, len(envVars))
		for k, v := range envVars {
			cp[k] = v
		}
		s.envVars = cp
	}
	if defaultUser != nil && *defaultUser != "" {
		s.defaultUser = *defaultUser
	}
	if defaultWorkdir != nil && *defaultWorkdir != "" {
		s.defaultWorkdir = *defaultWorkdir
	}
}

// EnvVars returns a copy of the sandbox-wide environment variables.
func (s *State) EnvVars() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cp := make(map[string]string, len(s.envVars))
	for k, v := range s.envVars {
		cp[k] = v
	}
	return cp
}

// DefaultUser is the user of requests that name none.
func (s *State) DefaultUser() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.defaultUser
}

// DefaultWorkdir is the working directory used for an empty path or cwd
// ("" means the user's home).
func (s *State) DefaultWorkdir() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.defaultWorkdir
}

// ResolveUser looks up name, or the default user when name is "". Unknown
// users are an unauthenticated error, as in envd.
func (s *State) ResolveUser(name string) (*users.User, error) {
	if name == "" {
		name = s.DefaultUser()
	}
	if name == "" {
		return nil, connect.Errorf(connect.Unauthenticated, "no user given and no default user set; send Authorization: Basic base64(\"<user>:\")")
	}
	u, err := s.Users.Lookup(name)
	if err != nil {
		return nil, connect.Errorf(connect.Unauthenticated, "invalid user %q: %v", name, err)
	}
	return u, nil
}

// RequestUsername is the user named by the request's Basic authorization
// ("<user>:" base64-encoded, as the e2b SDK sends it); "" when absent.
func RequestUsername(r *http.Request) string {
	name, _, ok := r.BasicAuth()
	if !ok {
		return ""
	}
	return name
}

// ResolvePath resolves a request path for u against the default workdir.
func (s *State) ResolvePath(path string, u *users.User) (string, error) {
	p, err := users.ResolvePath(path, u, s.DefaultWorkdir())
	if err != nil {
		return "", connect.Errorf(connect.InvalidArgument, "%v", err)
	}
	return p, nil
}
