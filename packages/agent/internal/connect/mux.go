package connect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strings"
)

// MaxMessageBytes bounds one request message (unary body or stream envelope).
const MaxMessageBytes = 32 << 20

// Request is one decoded RPC request.
type Request struct {
	HTTP *http.Request
	Body []byte // the JSON message
}

// Decode unmarshals the JSON message into v; malformed input is invalid_argument.
func (r *Request) Decode(v interface{}) error {
	body := bytes.TrimSpace(r.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return Errorf(InvalidArgument, "invalid JSON request message: %v", err)
	}
	return nil
}

// UnaryFunc handles a unary call and returns the response message.
type UnaryFunc func(ctx context.Context, req *Request) (interface{}, error)

// StreamFunc handles a server-streaming call; its returned error (nil for
// success) is sent in the end-stream envelope.
type StreamFunc func(ctx context.Context, req *Request, s *Stream) error

// ClientStreamFunc handles a client-streaming call: next returns each request
// message in turn and io.EOF after the last; the returned message is the reply.
type ClientStreamFunc func(ctx context.Context, r *http.Request, next func() ([]byte, error)) (interface{}, error)

// Mux routes POST /<package.Service>/<Method> to registered handlers.
type Mux struct {
	unary  map[string]UnaryFunc
	stream map[string]StreamFunc
	client map[string]ClientStreamFunc
	logf   func(format string, args ...interface{})
}

// NewMux returns an empty Mux that logs handler panics through logf.
func NewMux(logf func(format string, args ...interface{})) *Mux {
	return &Mux{unary: map[string]UnaryFunc{}, stream: map[string]StreamFunc{}, client: map[string]ClientStreamFunc{}, logf: logf}
}

// Unary registers a unary procedure, e.g. "/process.Process/List".
func (m *Mux) Unary(path string, fn UnaryFunc) { m.unary[path] = fn }

// Stream registers a server-streaming procedure.
func (m *Mux) Stream(path string, fn StreamFunc) { m.stream[path] = fn }

// ClientStream registers a client-streaming procedure. Over HTTP/1.1 it works
// half-duplex: request envelopes are applied as they arrive, the reply is sent
// after the request body ends.
func (m *Mux) ClientStream(path string, fn ClientStreamFunc) { m.client[path] = fn }

// Handles reports whether path is a registered procedure.
func (m *Mux) Handles(path string) bool {
	_, u := m.unary[path]
	_, s := m.stream[path]
	_, c := m.client[path]
	return u || s || c
}

func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if fn, ok := m.unary[r.URL.Path]; ok {
		m.serveUnary(w, r, fn)
		return
	}
	if fn, ok := m.stream[r.URL.Path]; ok {
		m.serveStream(w, r, fn)
		return
	}
	if fn, ok := m.client[r.URL.Path]; ok {
		m.serveClientStream(w, r, fn)
		return
	}
	WriteError(w, Errorf(NotFound, "unknown procedure %s", r.URL.Path))
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

func readBody(r *http.Request, encoding string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxMessageBytes+1))
	if err != nil {
		return nil, Errorf(Canceled, "reading request body: %v", err)
	}
	if len(body) > MaxMessageBytes {
		return nil, Errorf(ResourceExhausted, "request message exceeds %d bytes", MaxMessageBytes)
	}
	return decompress(body, encoding)
}

func decompress(body []byte, encoding string) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "", "identity":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, Errorf(InvalidArgument, "invalid gzip message: %v", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, MaxMessageBytes+1))
		if err != nil || len(out) > MaxMessageBytes {
			return nil, Errorf(InvalidArgument, "invalid or oversized gzip message")
		}
		return out, nil
	}
	return nil, Errorf(Unimplemented, "unsupported compression %q; use identity or gzip", encoding)
}

func (m *Mux) recoverTo(onPanic func(error)) {
	if p := recover(); p != nil {
		m.logf("panic in rpc handler: %v at %s", p, PanicLocation())
		onPanic(Errorf(Internal, "internal error: %v", p))
	}
}

func (m *Mux) serveUnary(w http.ResponseWriter, r *http.Request, fn UnaryFunc) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		WriteError(w, Errorf(Unimplemented, "method %s not allowed; use POST", r.Method))
		return
	}
	if mt := mediaType(r); mt != "application/json" {
		w.Header().Set("Accept-Post", "application/json")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	ctx, cancel, err := withTimeout(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	defer cancel()
	body, err := readBody(r, r.Header.Get("Content-Encoding"))
	if err != nil {
		WriteError(w, err)
		return
	}
	written := false
	defer m.recoverTo(func(e error) {
		if !written {
			WriteError(w, e)
		}
	})
	resp, err := fn(ctx, &Request{HTTP: r, Body: body})
	if err != nil {
		written = true
		WriteError(w, contextError(err))
		return
	}
	out, err := json.Marshal(resp)
	if err != nil {
		written = true
		WriteError(w, Errorf(Internal, "encode response: %v", err))
		return
	}
	written = true
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (m *Mux) serveStream(w http.ResponseWriter, r *http.Request, fn StreamFunc) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		WriteError(w, Errorf(Unimplemented, "method %s not allowed; use POST", r.Method))
		return
	}
	if mt := mediaType(r); mt != "application/connect+json" {
		w.Header().Set("Accept-Post", "application/connect+json")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	s := newStream(w)
	ctx, cancel, err := withTimeout(r)
	if err != nil {
		s.end(err)
		return
	}
	defer cancel()
	defer m.recoverTo(s.end)
	msg, err := readStreamRequest(r)
	if err != nil {
		s.end(err)
		return
	}
	err = fn(ctx, &Request{HTTP: r, Body: msg}, s)
	s.end(contextError(err))
}

func (m *Mux) serveClientStream(w http.ResponseWriter, r *http.Request, fn ClientStreamFunc) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		WriteError(w, Errorf(Unimplemented, "method %s not allowed; use POST", r.Method))
		return
	}
	if mt := mediaType(r); mt != "application/connect+json" {
		w.Header().Set("Accept-Post", "application/connect+json")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	s := newStream(w)
	ctx, cancel, err := withTimeout(r)
	if err != nil {
		s.end(err)
		return
	}
	defer cancel()
	defer m.recoverTo(s.end)
	enc := r.Header.Get("Connect-Content-Encoding")
	next := func() ([]byte, error) {
		flags, payload, err := ReadEnvelope(r.Body, MaxMessageBytes)
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, Errorf(InvalidArgument, "invalid request envelope: %v", err)
		}
		if flags&FlagEndStream != 0 {
			return nil, io.EOF
		}
		if flags&FlagCompressed != 0 {
			return decompress(payload, enc)
		}
		return payload, nil
	}
	resp, err := fn(ctx, r, next)
	if err == nil {
		err = s.Send(resp)
	}
	s.end(contextError(err))
}

// readStreamRequest reads the whole body (so the server notices a client
// disconnect) and unwraps its single enveloped message.
func readStreamRequest(r *http.Request) ([]byte, error) {
	raw, err := readBody(r, "")
	if err != nil {
		return nil, err
	}
	rd := bytes.NewReader(raw)
	flags, payload, err := ReadEnvelope(rd, MaxMessageBytes)
	if err != nil {
		return nil, Errorf(InvalidArgument, "invalid request envelope: %v", err)
	}
	if flags&FlagCompressed != 0 {
		enc := r.Header.Get("Connect-Content-Encoding")
		if enc == "" || enc == "identity" {
			return nil, Errorf(InvalidArgument, "compressed envelope without Connect-Content-Encoding")
		}
		if payload, err = decompress(payload, enc); err != nil {
			return nil, err
		}
	}
	if rd.Len() != 0 {
		return nil, Errorf(InvalidArgument, "server-streaming request carries more than one message")
	}
	return payload, nil
}

func withTimeout(r *http.Request) (context.Context, context.CancelFunc, error) {
	d, ok, err := Timeout(r.Header)
	if err != nil {
		return nil, nil, err
	}
	if !ok || d == 0 {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

// PanicLocation names the function and line that panicked; call it from the
// deferred function that recovered.
func PanicLocation() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	sawPanic := false
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			sawPanic = true
		} else if sawPanic && !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s:%d", f.Function, f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// Procedure builds "/<service>/<method>".
func Procedure(service, method string) string { return fmt.Sprintf("/%s/%s", service, method) }
