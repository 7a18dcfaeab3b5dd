package connect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultKeepalive is the keepalive interval of streams whose client sends no
// Keepalive-Ping-Interval header; short enough for common proxy idle timeouts.
const DefaultKeepalive = 30 * time.Second

// Stream writes the response of a server-streaming call: each Send is one
// envelope, flushed at once; the end-stream envelope is written by the Mux
// when the handler returns. Safe for concurrent use.
type Stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	flusher http.Flusher
	started bool
	ended   bool
}

func newStream(w http.ResponseWriter) *Stream {
	f, _ := w.(http.Flusher)
	return &Stream{w: w, flusher: f}
}

func (s *Stream) startLocked() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "application/connect+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

// Send marshals msg to JSON and writes it as one flushed envelope.
func (s *Stream) Send(msg interface{}) error {
	return s.SendBatch([]interface{}{msg})
}

// SendBatch writes several messages as envelopes with a single flush.
func (s *Stream) SendBatch(msgs []interface{}) error {
	var out []byte
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return Errorf(Internal, "encode stream message: %v", err)
		}
		out = AppendEnvelope(out, 0, b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errors.New("stream already ended")
	}
	s.startLocked()
	if _, err := s.w.Write(out); err != nil {
		return err
	}
	if s.flusher != nil {
		s.flusher.Flush()
	}
	return nil
}

// end writes the end-stream envelope carrying err (nil for success).
func (s *Stream) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.startLocked()
	s.ended = true
	_ = WriteEnvelope(s.w, FlagEndStream, EndStreamPayload(err))
	if s.flusher != nil {
		s.flusher.Flush()
	}
}

// KeepaliveInterval reads the Keepalive-Ping-Interval header (seconds) the e2b
// SDK sends on streaming calls; absent or invalid values give DefaultKeepalive.
func KeepaliveInterval(h http.Header) time.Duration {
	v := h.Get("Keepalive-Ping-Interval")
	if v == "" {
		return DefaultKeepalive
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return DefaultKeepalive
	}
	return time.Duration(n) * time.Second
}

// Timeout parses the Connect-Timeout-Ms header. ok is false when absent.
func Timeout(h http.Header) (d time.Duration, ok bool, err error) {
	v := h.Get("Connect-Timeout-Ms")
	if v == "" {
		return 0, false, nil
	}
	n, perr := strconv.ParseInt(v, 10, 64)
	if perr != nil || n < 0 || len(v) > 10 {
		return 0, false, Errorf(InvalidArgument, "invalid Connect-Timeout-Ms header %q", v)
	}
	return time.Duration(n) * time.Millisecond, true, nil
}

// contextError maps context errors to Connect codes; other errors pass through.
func contextError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(DeadlineExceeded, "the request deadline (Connect-Timeout-Ms) was exceeded")
	case errors.Is(err, context.Canceled):
		return Errorf(Canceled, "the request was canceled")
	}
	return err
}
