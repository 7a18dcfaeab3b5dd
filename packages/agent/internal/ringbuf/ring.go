// Package ringbuf keeps the most recent output of a process, bounded in bytes,
// as a sequence of numbered chunks that any number of readers follow at their
// own pace.
//
// Policy: when the buffer is full, Append evicts the oldest chunk, but first
// waits while an attached reader has not read that chunk yet (backpressure:
// a process is slowed to the pace of its live readers, as in envd). A reader
// that makes no progress for the stall timeout is detached: the writer stops
// waiting for it and it skips ahead to the oldest live chunk on its next read.
// So memory stays bounded and a stuck client never blocks a process for long.
package ringbuf

import (
	"sync"
	"time"
)

// Kind says which stream a chunk came from.
type Kind uint8

// Output streams.
const (
	Stdout Kind = iota + 1
	Stderr
	PTY
)

// Chunk is one piece of output; Data must not be modified.
type Chunk struct {
	Seq  uint64
	Kind Kind
	Data []byte
}

// Buffer holds at most capacity bytes of chunk data (plus, while a writer
// waits for a slow reader, the one chunk that writer is adding).
type Buffer struct {
	mu       sync.Mutex
	capacity int
	stall    time.Duration
	chunks   []Chunk // chunks[head:] are live
	head     int
	size     int    // bytes in live chunks
	next     uint64 // sequence number of the next chunk
	dropped  uint64 // bytes evicted so far
	changed  chan struct{}
	progress chan struct{}
	readers  map[*Reader]struct{}
}

// New returns an empty buffer that never waits for readers.
func New(capacity int) *Buffer { return NewWithStall(capacity, 0) }

// NewWithStall returns an empty buffer whose writers wait up to stall for an
// attached reader that is not making progress before evicting unread output.
func NewWithStall(capacity int, stall time.Duration) *Buffer {
	if capacity < 1 {
		capacity = 1
	}
	return &Buffer{
		capacity: capacity, stall: stall,
		changed: make(chan struct{}), progress: make(chan struct{}),
		readers: map[*Reader]struct{}{},
	}
}

// Append copies data into the buffer as a new chunk and evicts the oldest
// chunks while the buffer is over capacity (see the package policy). A chunk
// larger than the capacity keeps only its last capacity bytes.
func (b *Buffer) Append(kind Kind, data []byte) {
	if len(data) == 0 {
		return
	}
	if len(data) > b.capacity {
		data = data[len(data)-b.capacity:]
	}
	cp := make([]byte, len(data))
	copy(cp, data)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.chunks = append(b.chunks, Chunk{Seq: b.next, Kind: kind, Data: cp})
	b.next++
	b.size += len(cp)
	close(b.changed)
	b.changed = make(chan struct{})

	var waitStart time.Time
	for b.size > b.capacity {
		oldest := b.chunks[b.head].Seq
		if blocked := b.blockingLocked(oldest); len(blocked) > 0 {
			if waitStart.IsZero() {
				waitStart = time.Now()
			}
			if remaining := b.stall - time.Since(waitStart); remaining > 0 {
				progress := b.progress
				b.mu.Unlock()
				t := time.NewTimer(remaining)
				select {
				case <-progress:
					waitStart = time.Time{}
				case <-t.C:
				}
				t.Stop()
				b.mu.Lock()
				continue
			}
			for _, r := range blocked {
				r.detached = true
			}
		}
		b.size -= len(b.chunks[b.head].Data)
		b.dropped += uint64(len(b.chunks[b.head].Data))
		b.chunks[b.head] = Chunk{}
		b.head++
	}
	b.compactLocked()
}

// blockingLocked lists the attached readers that have not read chunk seq.
func (b *Buffer) blockingLocked(seq uint64) []*Reader {
	if b.stall <= 0 {
		return nil
	}
	var out []*Reader
	for r := range b.readers {
		if !r.detached && r.cursor <= seq {
			out = append(out, r)
		}
	}
	return out
}

// compactLocked reclaims the evicted prefix once it dominates the slice.
func (b *Buffer) compactLocked() {
	if b.head > 64 && b.head*2 > len(b.chunks) {
		n := copy(b.chunks, b.chunks[b.head:])
		for i := n; i < len(b.chunks); i++ {
			b.chunks[i] = Chunk{}
		}
		b.chunks = b.chunks[:n]
		b.head = 0
	}
}

// firstLocked is the sequence number of the oldest live chunk.
func (b *Buffer) firstLocked() uint64 { return b.next - uint64(len(b.chunks)-b.head) }

// Next is the sequence number the next appended chunk will get.
func (b *Buffer) Next() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next
}

// First is the sequence number of the oldest live chunk (== Next when empty).
func (b *Buffer) First() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.firstLocked()
}

// Changed returns a channel that is closed by the next Append.
func (b *Buffer) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// Size is the number of bytes currently held.
func (b *Buffer) Size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// Dropped is the number of bytes evicted so far.
func (b *Buffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Release drops all held chunks (sequence numbers keep counting) to free
// memory, e.g. for an exited process whose output is no longer worth keeping.
func (b *Buffer) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropped += uint64(b.size)
	b.chunks = nil
	b.head = 0
	b.size = 0
}

// Reader follows the buffer from a sequence number on.
type Reader struct {
	b        *Buffer
	cursor   uint64
	detached bool
}

// NewReader attaches a reader starting at sequence number from.
func (b *Buffer) NewReader(from uint64) *Reader {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := &Reader{b: b, cursor: from}
	b.readers[r] = struct{}{}
	return r
}

// NewReaderAtOldest attaches a reader at the oldest live chunk (a replay).
func (b *Buffer) NewReaderAtOldest() *Reader {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := &Reader{b: b, cursor: b.firstLocked()}
	b.readers[r] = struct{}{}
	return r
}

// Read returns the next chunks (at most maxBytes of data, but at least one
// chunk when any is available) and whether output was lost before them.
func (r *Reader) Read(maxBytes int) (chunks []Chunk, skipped bool) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	first := b.firstLocked()
	if r.cursor < first {
		skipped = true
		r.cursor = first
	}
	r.detached = false
	total := 0
	live := b.chunks[b.head:]
	for i := int(r.cursor - first); i >= 0 && i < len(live); i++ {
		c := live[i]
		if len(chunks) > 0 && total+len(c.Data) > maxBytes {
			break
		}
		chunks = append(chunks, c)
		total += len(c.Data)
	}
	if len(chunks) > 0 {
		r.cursor += uint64(len(chunks))
		close(b.progress)
		b.progress = make(chan struct{})
	}
	return chunks, skipped
}

// Cursor is the sequence number the reader reads next.
func (r *Reader) Cursor() uint64 {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	return r.cursor
}

// Close detaches the reader; writers no longer wait for it.
func (r *Reader) Close() {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.readers[r]; ok {
		delete(b.readers, r)
		close(b.progress)
		b.progress = make(chan struct{})
	}
}
