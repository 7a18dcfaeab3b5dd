package state

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTokenFileIsReadOnceAndTakesBackTheAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the token file must be owned by root")
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("host-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := ReadTokenFile(file)
	if err != nil || tok != "host-token" {
		t.Fatalf("read: %q %v", tok, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the token file is still there: %v", err)
	}

	s := New(Options{Token: "host-token", TokenFile: file})
	s.Update(strPtr("changed-inside"), nil, nil, nil) // what a lock-out does
	if s.TokenMatches("host-token") {
		t.Fatal("the old token matched without a token file")
	}
	if err := os.WriteFile(file, []byte("host-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !s.TokenMatches("host-token") || s.TokenMatches("changed-inside") {
		t.Fatal("the token file did not replace the changed token")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the token file was not removed: %v", err)
	}

	// A file others may read or write is not trusted.
	if err := os.WriteFile(file, []byte("planted"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.TokenMatches("planted") {
		t.Fatal("a world-readable token file was accepted")
	}
	if _, err := ReadTokenFile(file); !os.IsNotExist(err) {
		t.Fatalf("the untrusted file was not removed: %v", err)
	}
}

func strPtr(s string) *string { return &s }
