package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"burrow/agent/internal/fsys"
)

func postInit(t *testing.T, body string, header string) int {
	t.Helper()
	req := newRequest(t, http.MethodPost, "/init", "application/json", strings.NewReader(body))
	req.Header.Del("X-Access-Token")
	if header != "" {
		req.Header.Set("X-Access-Token", header)
	}
	status, _ := doFiles(t, req)
	return status
}

func TestAccessTokenInitAndEnvs(t *testing.T) {
	defer func() {
		token = ""
		agent.State.Update(strPtr(""), map[string]string{}, nil, nil)
	}()
	if status := postInit(t, `{"accessToken":"tok-1","envVars":{"SANDBOX_VAR":"sv"}}`, ""); status != 204 {
		t.Fatalf("first /init: %d", status)
	}
	status, body := unary(t, pList, map[string]string{})
	if status != 401 || connectCode(body) != "unauthenticated" {
		t.Fatalf("no token: %d %s", status, body)
	}
	resp, err := http.Get(srv.URL + "/health")
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("health without token: %v %v", err, resp)
	}
	resp.Body.Close()
	token = "wrong"
	if status, _ := unary(t, pList, map[string]string{}); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	token = "tok-1"
	if status, body := unary(t, pList, map[string]string{}); status != 200 {
		t.Fatalf("right token: %d %s", status, body)
	}

	// Rotation needs the current token.
	if status := postInit(t, `{"accessToken":"tok-2"}`, ""); status != 401 {
		t.Fatalf("rotation without token: %d", status)
	}
	if status := postInit(t, `{"accessToken":"tok-2"}`, "tok-1"); status != 204 {
		t.Fatalf("rotation: %d", status)
	}
	token = "tok-2"

	status, body = doFiles(t, newRequest(t, http.MethodGet, "/envs", "", nil))
	var envs map[string]string
	if status != 200 || json.Unmarshal(body, &envs) != nil || envs["SANDBOX_VAR"] != "sv" {
		t.Fatalf("/envs: %d %s", status, body)
	}
	s := openStream(t, pStart, startMsg("/bin/sh", "-c", `echo "$SANDBOX_VAR"; env | grep -c BURROW_AGENT_TOKEN || true`), nil)
	s.startPid(t)
	if r := s.drain(t); r.stdout.String() != "sv\n0\n" {
		t.Fatalf("process env: %q", r.stdout.String())
	}

	status, body = doFiles(t, newRequest(t, http.MethodGet, "/metrics", "", nil))
	var m map[string]float64
	if status != 200 || json.Unmarshal(body, &m) != nil || m["cpu_count"] < 1 || m["ts"] == 0 {
		t.Fatalf("/metrics: %d %s", status, body)
	}

	// /files accepts a signature instead of the header.
	path := filepath.Join(home, "signed.txt")
	token = ""
	if status, _ := doFiles(t, newRequest(t, http.MethodPost, filesURL(path, nil), "application/octet-stream", strings.NewReader("signed"))); status != 401 {
		t.Fatalf("unsigned upload: %d", status)
	}
	exp := time.Now().Add(time.Minute).Unix()
	sig := fsys.Signature(path, "write", "", "tok-2", &exp)
	q := url.Values{"signature": {sig}, "signature_expiration": {strconv.FormatInt(exp, 10)}}
	if status, body := doFiles(t, newRequest(t, http.MethodPost, filesURL(path, q), "application/octet-stream", strings.NewReader("signed"))); status != 200 {
		t.Fatalf("signed upload: %d %s", status, body)
	}
	readSig := fsys.Signature(path, "read", "", "tok-2", nil)
	if status, body := doFiles(t, newRequest(t, http.MethodGet, filesURL(path, url.Values{"signature": {readSig}}), "", nil)); status != 200 || string(body) != "signed" {
		t.Fatalf("signed download: %d %s", status, body)
	}
	past := time.Now().Add(-time.Minute).Unix()
	old := fsys.Signature(path, "read", "", "tok-2", &past)
	q = url.Values{"signature": {old}, "signature_expiration": {strconv.FormatInt(past, 10)}}
	if status, _ := doFiles(t, newRequest(t, http.MethodGet, filesURL(path, q), "", nil)); status != 401 {
		t.Fatalf("expired signature: %d", status)
	}
	if status, _ := doFiles(t, newRequest(t, http.MethodGet, filesURL(path, url.Values{"signature": {sig}}), "", nil)); status != 401 {
		t.Fatalf("write signature used for read: %d", status)
	}
}

func strPtr(s string) *string { return &s }

func TestCORSPreflight(t *testing.T) {
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+pStart, nil)
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-access-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "content-type,x-access-token" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
