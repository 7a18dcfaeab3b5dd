package oomguard

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	m, ok := ParseMeminfo([]byte("MemTotal:         262144 kB\nMemFree:          253288 kB\nMemAvailable:     1024 kB\n"))
	if !ok || m.Total != 256<<20 || m.Available != 1<<20 {
		t.Fatalf("got %+v %v", m, ok)
	}
	if _, ok := ParseMeminfo([]byte("MemTotal: 1 kB\n")); ok {
		t.Fatal("a meminfo without MemAvailable must not parse")
	}
}

func TestIntervalShortensAsMemoryRunsOut(t *testing.T) {
	total := uint64(1 << 30)
	if Interval(Meminfo{total, total}) <= Interval(Meminfo{total, total / 3}) ||
		Interval(Meminfo{total, total / 3}) <= Interval(Meminfo{total, total / 10}) {
		t.Fatal("the guard must look more often as less memory is left")
	}
}

func TestReserve(t *testing.T) {
	if Reserve(128<<20) != 8<<20 || Reserve(2<<30) != 64<<20 {
		t.Fatalf("reserve: %d %d", Reserve(128<<20), Reserve(2<<30))
	}
}

func TestLargestSkipsPid1AndSelf(t *testing.T) {
	dir := t.TempDir()
	for pid, statm := range map[string]string{"1": "9999 9000 0", "7": "500 400 0", "8": "900 800 0", "9": "90 80 0", "self": "1 1 1"} {
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, pid, "statm"), []byte(statm), 0o644)
		_ = os.WriteFile(filepath.Join(dir, pid, "comm"), []byte("p"+pid+"\n"), 0o644)
	}
	v, ok := Largest(dir, map[int]bool{8: true})
	if !ok || v.Pid != 7 || v.Name != "p7" || v.RSSBytes != 400*uint64(os.Getpagesize()) {
		t.Fatalf("got %+v %v", v, ok)
	}
}
