// Package oomguard is the sandbox's out-of-memory killer. gVisor has none: a
// sandbox whose processes use more memory than its limit is killed whole by
// the host. The guard watches the memory gVisor reports in /proc/meminfo
// (MemTotal is the sandbox's limit) and, when little is left, kills the
// process holding the most resident memory (never PID 1), as Linux's OOM
// killer would. The host cgroup leaves room above the limit for the moment
// this takes.
package oomguard

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Interval is how long the guard waits before reading /proc/meminfo again:
// 100 ms while half the memory is free, 25 ms down to a quarter, 5 ms below.
// An idle sandbox then costs ten small reads a second.
func Interval(m Meminfo) time.Duration {
	switch {
	case m.Available >= m.Total/2:
		return 100 * time.Millisecond
	case m.Available >= m.Total/4:
		return 25 * time.Millisecond
	default:
		return 5 * time.Millisecond
	}
}

// settle is how long the guard waits after a kill for the memory to be freed
// before it looks again, so one shortage costs one process.
const settle = 200 * time.Millisecond

// Meminfo is the part of /proc/meminfo the guard uses, in bytes.
type Meminfo struct {
	Total, Available uint64
}

// Reserve is the memory that must stay available: 1/32 of the total, at
// least 8 MiB.
func Reserve(total uint64) uint64 {
	r := total / 32
	if r < 8<<20 {
		r = 8 << 20
	}
	return r
}

// ParseMeminfo reads MemTotal and MemAvailable from /proc/meminfo's text.
func ParseMeminfo(text []byte) (Meminfo, bool) {
	var m Meminfo
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			m.Total = kb << 10
			found++
		case "MemAvailable:":
			m.Available = kb << 10
			found++
		}
	}
	return m, found == 2
}

// Victim is a process the guard may kill.
type Victim struct {
	Pid      int
	Name     string
	RSSBytes uint64
}

// Largest returns the process under procDir with the most resident memory,
// skipping PID 1 and the pids in skip.
func Largest(procDir string, skip map[int]bool) (Victim, bool) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return Victim{}, false
	}
	page := uint64(os.Getpagesize())
	var best Victim
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || skip[pid] {
			continue
		}
		statm, err := os.ReadFile(filepath.Join(procDir, e.Name(), "statm"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(statm))
		if len(fields) < 2 {
			continue
		}
		pages, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil || pages*page <= best.RSSBytes {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(procDir, e.Name(), "comm"))
		best = Victim{Pid: pid, Name: strings.TrimSpace(string(comm)), RSSBytes: pages * page}
	}
	return best, best.Pid != 0
}

// Start runs the guard until the process exits. It does nothing unless the
// agent is PID 1 (inside a sandbox: an agent run elsewhere, as in tests, must
// never kill the host's processes) or where /proc/meminfo cannot be read.
func Start(logf func(string, ...interface{})) {
	if os.Getpid() != 1 {
		return
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return
	}
	self := map[int]bool{os.Getpid(): true}
	buf := make([]byte, 4096)
	go func() {
		wait := 100 * time.Millisecond
		for {
			time.Sleep(wait)
			n, err := f.ReadAt(buf, 0)
			if n == 0 && err != nil {
				continue
			}
			m, ok := ParseMeminfo(buf[:n])
			if !ok || m.Total == 0 {
				continue
			}
			wait = Interval(m)
			if m.Available >= Reserve(m.Total) {
				continue
			}
			v, ok := Largest("/proc", self)
			if !ok {
				continue
			}
			if err := syscall.Kill(v.Pid, syscall.SIGKILL); err == nil {
				logf("out of memory: killed process %d (%s) holding %d MiB; %d MiB of %d MiB were left",
					v.Pid, v.Name, v.RSSBytes>>20, m.Available>>20, m.Total>>20)
			}
			time.Sleep(settle)
		}
	}()
}
