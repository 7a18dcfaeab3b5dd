// Package server is the agent's HTTP front: routing, access-token checks,
// CORS, panic recovery, and the small REST endpoints (/health, /init, /envs,
// /metrics) next to the Connect services and /files.
package server

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	pathpkg "path"
	"strings"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/fsys"
	"burrow/agent/internal/process"
	"burrow/agent/internal/state"
)

// EnvdVersion is the envd protocol version this agent implements: the e2b
// SDK gates features on it (recursive watch 0.1.4, stdin 0.3.0, default user
// 0.4.0, CloseStdin 0.5.2, octet-stream upload 0.5.7, file metadata 0.6.2,
// entry info in watch events 0.6.3, network-mount watch flag 0.6.4). It is
// sent as X-Envd-Version on /health and /init.
const EnvdVersion = "0.6.4"

// Options wires the handler to the services.
type Options struct {
	State   *state.State
	Process *process.Service
	FS      *fsys.Service
	Logf    func(format string, args ...interface{})
}

// Server routes requests; it is an http.Handler.
type Server struct {
	opts    Options
	mux     *connect.Mux
	metrics *metricsSampler
}

// New builds the handler.
func New(opts Options) *Server {
	mux := connect.NewMux(opts.Logf)
	opts.Process.Register(mux)
	opts.FS.Register(mux)
	return &Server{opts: opts, mux: mux, metrics: newMetricsSampler()}
}

var exposedHeaders = strings.Join([]string{
	"Connect-Protocol-Version", "Connect-Content-Encoding", "Connect-Accept-Encoding",
	"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Content-Disposition",
	"Content-Encoding", "Cache-Control", "X-Content-Type-Options",
}, ", ")

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logf("panic serving %s %s: %v at %s", r.Method, r.URL.Path, p, connect.PanicLocation())
			if !sw.wrote {
				connect.WriteError(sw, connect.Errorf(connect.Internal, "internal error"))
			}
		}
		if sw.status >= 500 {
			s.opts.Logf("%s %s -> %d", r.Method, r.URL.Path, sw.status)
		}
	}()
	h := sw.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", exposedHeaders)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "7200")
		sw.WriteHeader(http.StatusNoContent)
		return
	}
	s.route(sw, r)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if !canonicalPath(r) {
		connect.WriteError(w, connect.Errorf(connect.InvalidArgument, "the request path must be plain: no percent-encoding, '.', '..' or '//' segments"))
		return
	}
	switch path {
	case "/health":
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Envd-Version", EnvdVersion)
		w.WriteHeader(http.StatusNoContent)
		return
	case "/files":
		// /files also accepts a signed URL instead of the token header.
		s.opts.FS.ServeFiles(w, r)
		return
	case "/init":
		s.serveInit(w, r)
		return
	}
	if !s.opts.State.TokenMatches(r.Header.Get("X-Access-Token")) {
		connect.WriteError(w, connect.Errorf(connect.Unauthenticated, "missing or invalid X-Access-Token header"))
		return
	}
	switch {
	case path == "/envs" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.opts.State.EnvVars())
	case path == "/metrics" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.metrics.sample())
	case s.mux.Handles(path):
		s.mux.ServeHTTP(w, r)
	default:
		connect.WriteError(w, connect.Errorf(connect.NotFound, "no route for %s %s", r.Method, path))
	}
}

// canonicalPath reports whether the request path is spelled plainly, so that
// what a proxy in front checked (e.g. that it is not /init) is what is
// routed here: none of the agent's paths needs percent-encoding or dot
// segments.
func canonicalPath(r *http.Request) bool {
	p := r.URL.Path
	return p != "" && !strings.ContainsRune(r.URL.EscapedPath(), '%') && (p == "/" || pathpkg.Clean(p) == p)
}

// initRequest is the body of POST /init; unknown fields are ignored.
type initRequest struct {
	EnvVars        map[string]string `json:"envVars"`
	AccessToken    *string           `json:"accessToken"`
	DefaultUser    *string           `json:"defaultUser"`
	DefaultWorkdir *string           `json:"defaultWorkdir"`
}

// serveInit applies sandbox-wide settings. When a token is set the request
// must prove it knows it: in X-Access-Token, or by sending the same
// accessToken again.
func (s *Server) serveInit(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Envd-Version", EnvdVersion)
	if r.Method != http.MethodPost {
		connect.WriteError(w, connect.Errorf(connect.Unimplemented, "use POST /init"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		connect.WriteError(w, connect.Errorf(connect.InvalidArgument, "read body: %v", err))
		return
	}
	var in initRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			connect.WriteError(w, connect.Errorf(connect.InvalidArgument, "invalid /init JSON: %v", err))
			return
		}
	}
	st := s.opts.State
	if cur := st.Token(); cur != "" {
		sameToken := in.AccessToken != nil && subtle.ConstantTimeCompare([]byte(*in.AccessToken), []byte(cur)) == 1
		if !sameToken && !st.TokenMatches(r.Header.Get("X-Access-Token")) {
			connect.WriteError(w, connect.Errorf(connect.Unauthenticated, "changing the agent's settings needs the current access token in X-Access-Token"))
			return
		}
	}
	st.Update(in.AccessToken, in.EnvVars, in.DefaultUser, in.DefaultWorkdir)
	s.opts.Logf("init: %d env vars, default user %q, token set: %v", len(st.EnvVars()), st.DefaultUser(), st.TokenSet())
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter records the status and keeps streaming (Flush) working.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
