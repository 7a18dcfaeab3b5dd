package main

import (
	"os"
	"sync"
)

// maxLogBytes bounds the agent's log file; past it the file starts over.
const maxLogBytes = 1 << 20

// cappedLog is an append-only file that is emptied once it grows past maxLogBytes.
type cappedLog struct {
	mu   sync.Mutex
	f    *os.File
	size int64
}

func openCappedLog(path string) (*cappedLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &cappedLog{f: f, size: st.Size()}, nil
}

func (c *cappedLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size+int64(len(p)) > maxLogBytes {
		if err := c.f.Truncate(0); err == nil {
			c.size = 0
		}
	}
	n, err := c.f.Write(p)
	c.size += int64(n)
	return n, err
}
