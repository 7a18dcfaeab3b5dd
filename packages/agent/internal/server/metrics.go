package server

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Metrics is the JSON of GET /metrics (envd's field names). Every value is
// best effort: inside gVisor /proc is emulated.
type Metrics struct {
	Timestamp   int64   `json:"ts"`
	CPUCount    int     `json:"cpu_count"`
	CPUUsedPct  float64 `json:"cpu_used_pct"`
	MemTotal    uint64  `json:"mem_total"`
	MemUsed     uint64  `json:"mem_used"`
	MemCache    uint64  `json:"mem_cache"`
	MemTotalMiB uint64  `json:"mem_total_mib"`
	MemUsedMiB  uint64  `json:"mem_used_mib"`
	DiskUsed    uint64  `json:"disk_used"`
	DiskTotal   uint64  `json:"disk_total"`
}

type cpuSample struct{ idle, total uint64 }

// metricsSampler remembers the previous CPU sample so the usage reported is
// the average since the last call (or over 100 ms on the first call).
type metricsSampler struct {
	mu        sync.Mutex
	prev      cpuSample
	havePrev  bool
	statPath  string
	memPath   string
	diskPath  string
	firstWait time.Duration
}

func newMetricsSampler() *metricsSampler {
	return &metricsSampler{statPath: "/proc/stat", memPath: "/proc/meminfo", diskPath: "/", firstWait: 100 * time.Millisecond}
}

func (m *metricsSampler) sample() Metrics {
	out := Metrics{Timestamp: time.Now().UTC().Unix(), CPUCount: runtime.NumCPU()}
	out.CPUUsedPct = m.cpuPercent()
	mem := readMeminfo(m.memPath)
	out.MemTotal = mem["MemTotal"]
	avail, ok := mem["MemAvailable"]
	if !ok {
		avail = mem["MemFree"] + mem["Buffers"] + mem["Cached"]
	}
	if out.MemTotal > avail {
		out.MemUsed = out.MemTotal - avail
	}
	out.MemCache = mem["Cached"]
	out.MemTotalMiB = out.MemTotal >> 20
	out.MemUsedMiB = out.MemUsed >> 20
	var st syscall.Statfs_t
	if syscall.Statfs(m.diskPath, &st) == nil {
		bs := uint64(st.Bsize)
		out.DiskTotal = st.Blocks * bs
		if free := st.Bavail * bs; out.DiskTotal > free {
			out.DiskUsed = out.DiskTotal - free
		}
	}
	return out
}

func (m *metricsSampler) cpuPercent() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := readCPU(m.statPath)
	if !ok {
		return 0
	}
	if !m.havePrev {
		time.Sleep(m.firstWait)
		m.prev = cur
		if cur, ok = readCPU(m.statPath); !ok {
			return 0
		}
	}
	prev := m.prev
	m.prev, m.havePrev = cur, true
	if cur.total <= prev.total {
		return 0
	}
	dTotal := float64(cur.total - prev.total)
	dIdle := float64(cur.idle - prev.idle)
	if cur.idle < prev.idle {
		dIdle = 0
	}
	pct := 100 * (1 - dIdle/dTotal)
	if pct < 0 {
		pct = 0
	}
	return math.Round(pct*100) / 100
}

// readCPU parses the aggregate "cpu" line of /proc/stat.
func readCPU(path string) (cpuSample, bool) {
	f, err := os.Open(path)
	if err != nil {
		return cpuSample{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[0] != "cpu" {
			continue
		}
		var s cpuSample
		for i, v := range fields[1:] {
			if i >= 8 { // guest time is already counted in user time
				break
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return cpuSample{}, false
			}
			s.total += n
			if i == 3 || i == 4 { // idle, iowait
				s.idle += n
			}
		}
		return s, true
	}
	return cpuSample{}, false
}

// readMeminfo returns /proc/meminfo values in bytes.
func readMeminfo(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		out[name] = n
	}
	return out
}
