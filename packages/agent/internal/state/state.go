// Package state holds the sandbox-wide settings that POST /init changes: the
// access token, environment variables for new processes, the default user and
// the default working directory.
package state

import (
	"crypto/subtle"
	"net/http"
	"sync"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/users"
)

// Options are the initial settings.
type Options struct {
	Token          string
	DefaultUser    string
	DefaultWorkdir string
	Users          *users.DB
}

// State is safe for concurrent use.
type State struct {
	Users *users.DB

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
// It is true when no token is set.
func (s *State) TokenMatches(candidate string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.token == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(s.token), []byte(candidate)) == 1
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
