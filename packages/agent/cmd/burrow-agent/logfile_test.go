package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCappedLogStartsOverPastTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	log, err := openCappedLog(path)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 1023) + "\n"
	for i := 0; i < 1500; i++ {
		if _, err := log.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxLogBytes || st.Size() == 0 {
		t.Fatalf("log size %d, want 1..%d", st.Size(), maxLogBytes)
	}
	if _, err := log.Write([]byte("last\n")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(data), "last\n") {
		t.Fatal("the newest line is not at the end of the log")
	}
}
