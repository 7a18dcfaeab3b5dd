package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteEnvelope(&buf, 0, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := WriteEnvelope(&buf, FlagEndStream, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0, 0, 0, 0, 7}, []byte(`{"a":1}`)...)
	if !bytes.Equal(buf.Bytes()[:12], want) {
		t.Fatalf("header bytes = %v, want %v", buf.Bytes()[:12], want)
	}
	f, p, err := ReadEnvelope(&buf, 100)
	if err != nil || f != 0 || string(p) != `{"a":1}` {
		t.Fatalf("first envelope = %d %q %v", f, p, err)
	}
	f, p, err = ReadEnvelope(&buf, 100)
	if err != nil || f != FlagEndStream || string(p) != `{}` {
		t.Fatalf("second envelope = %d %q %v", f, p, err)
	}
	if _, _, err = ReadEnvelope(&buf, 100); err != io.EOF {
		t.Fatalf("after last envelope err = %v, want EOF", err)
	}
}

func TestEnvelopeErrors(t *testing.T) {
	if _, _, err := ReadEnvelope(bytes.NewReader([]byte{0, 0, 0, 0, 5, 'a'}), 100); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated payload err = %v", err)
	}
	if _, _, err := ReadEnvelope(bytes.NewReader([]byte{0, 0, 0}), 100); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated header err = %v", err)
	}
	if _, _, err := ReadEnvelope(bytes.NewReader([]byte{0, 0, 1, 0, 0}), 100); !errors.Is(err, ErrEnvelopeTooLarge) {
		t.Fatalf("oversized err = %v", err)
	}
	got := AppendEnvelope(nil, FlagCompressed, []byte("xy"))
	if !bytes.Equal(got, []byte{1, 0, 0, 0, 2, 'x', 'y'}) {
		t.Fatalf("AppendEnvelope = %v", got)
	}
}

func TestEndStreamPayload(t *testing.T) {
	if got := string(EndStreamPayload(nil)); got != "{}" {
		t.Fatalf("success end = %s", got)
	}
	var v struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(EndStreamPayload(Errorf(NotFound, "no %s", "x")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Error.Code != "not_found" || v.Error.Message != "no x" {
		t.Fatalf("error end = %+v", v)
	}
}

func TestHTTPStatusTable(t *testing.T) {
	cases := map[Code]int{
		Canceled: 499, Unknown: 500, InvalidArgument: 400, DeadlineExceeded: 504, NotFound: 404,
		AlreadyExists: 409, PermissionDenied: 403, ResourceExhausted: 429, FailedPrecondition: 400,
		Aborted: 409, OutOfRange: 400, Unimplemented: 501, Internal: 500, Unavailable: 503,
		DataLoss: 500, Unauthenticated: 401, Code("bogus"): 500,
	}
	for code, want := range cases {
		if got := HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestWriteErrorAndAsError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, Errorf(AlreadyExists, "dir exists"))
	if rec.Code != http.StatusConflict || rec.Body.String() != `{"code":"already_exists","message":"dir exists"}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
	if ce := AsError(errors.New("boom")); ce.Code != Internal {
		t.Fatalf("plain error code = %s", ce.Code)
	}
	wrapped := errors.New("x")
	if ce := AsError(&Error{Code: NotFound, Message: wrapped.Error()}); ce.Code != NotFound {
		t.Fatalf("code = %s", ce.Code)
	}
}

func TestMuxUnaryAndStream(t *testing.T) {
	m := NewMux(t.Logf)
	m.Unary("/s.S/Echo", func(_ context.Context, req *Request) (interface{}, error) {
		var in map[string]string
		if err := req.Decode(&in); err != nil {
			return nil, err
		}
		return in, nil
	})
	m.Stream("/s.S/Count", func(_ context.Context, req *Request, s *Stream) error {
		for i := 0; i < 3; i++ {
			if err := s.Send(map[string]int{"i": i}); err != nil {
				return err
			}
		}
		return Errorf(Aborted, "stop")
	})
	m.Unary("/s.S/Panic", func(_ context.Context, req *Request) (interface{}, error) { panic("kaboom") })

	post := func(path, ct string, body []byte) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		m.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("/s.S/Echo", "application/json", []byte(`{"a":"b"}`)); rec.Code != 200 || rec.Body.String() != `{"a":"b"}` {
		t.Fatalf("echo = %d %s", rec.Code, rec.Body.String())
	}
	if rec := post("/s.S/Echo", "application/json", []byte(`{"a":`)); rec.Code != 400 {
		t.Fatalf("bad json = %d %s", rec.Code, rec.Body.String())
	}
	if rec := post("/s.S/Echo", "application/proto", nil); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("proto content type = %d", rec.Code)
	}
	if rec := post("/s.S/Nope", "application/json", nil); rec.Code != 404 {
		t.Fatalf("unknown = %d", rec.Code)
	}
	if rec := post("/s.S/Panic", "application/json", nil); rec.Code != 500 {
		t.Fatalf("panic = %d %s", rec.Code, rec.Body.String())
	}
	rec := post("/s.S/Count", "application/connect+json", AppendEnvelope(nil, 0, []byte(`{}`)))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/connect+json" {
		t.Fatalf("stream = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var msgs []string
	var lastFlags byte
	for {
		f, p, err := ReadEnvelope(rec.Body, 1<<20)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs, lastFlags = append(msgs, string(p)), f
	}
	want := []string{`{"i":0}`, `{"i":1}`, `{"i":2}`, `{"error":{"code":"aborted","message":"stop"}}`}
	if len(msgs) != len(want) || lastFlags != FlagEndStream {
		t.Fatalf("stream msgs = %q (last flags %d)", msgs, lastFlags)
	}
	for i := range want {
		if msgs[i] != want[i] {
			t.Fatalf("msg %d = %s, want %s", i, msgs[i], want[i])
		}
	}
	// A stream request that is not one envelope ends with invalid_argument.
	rec = post("/s.S/Count", "application/connect+json", []byte(`{}`))
	_, p, _ := ReadEnvelope(rec.Body, 1<<20)
	if !bytes.Contains(p, []byte("invalid_argument")) {
		t.Fatalf("bad envelope end = %s", p)
	}
}
