package ringbuf

import (
	"bytes"
	"testing"
	"time"
)

func TestAppendReadInOrder(t *testing.T) {
	b := New(100)
	r := b.NewReader(0)
	b.Append(Stdout, []byte("ab"))
	b.Append(Stderr, []byte("cd"))
	b.Append(Stdout, nil) // ignored
	chunks, skipped := r.Read(1 << 20)
	if len(chunks) != 2 || r.Cursor() != 2 || skipped {
		t.Fatalf("read = %d chunks, cursor %d, skipped %v", len(chunks), r.Cursor(), skipped)
	}
	if chunks[0].Kind != Stdout || string(chunks[0].Data) != "ab" || chunks[1].Kind != Stderr || chunks[1].Seq != 1 {
		t.Fatalf("chunks = %+v", chunks)
	}
	if c, _ := r.Read(1 << 20); len(c) != 0 || r.Cursor() != 2 {
		t.Fatalf("read at end = %v %d", c, r.Cursor())
	}
}

func TestBoundedDropOldest(t *testing.T) {
	b := New(10)
	for i := 0; i < 100; i++ {
		b.Append(Stdout, bytes.Repeat([]byte{byte('a' + i%26)}, 4))
		if b.Size() > 10 {
			t.Fatalf("size %d exceeds capacity", b.Size())
		}
	}
	if b.Dropped() != 400-uint64(b.Size()) {
		t.Fatalf("dropped %d, size %d", b.Dropped(), b.Size())
	}
	// A reader created at the start (on a buffer without stall) skips ahead.
	r := &Reader{b: b}
	b.readers[r] = struct{}{}
	chunks, skipped := r.Read(1 << 20)
	if !skipped || len(chunks) != 2 || r.Cursor() != 100 || chunks[0].Seq != 98 {
		t.Fatalf("slow reader: %d chunks, cursor %d, skipped %v", len(chunks), r.Cursor(), skipped)
	}
	if b.First() != 98 || b.Next() != 100 {
		t.Fatalf("first %d next %d", b.First(), b.Next())
	}
	if rr := b.NewReaderAtOldest(); rr.Cursor() != 98 {
		t.Fatalf("replay reader starts at %d", rr.Cursor())
	}
}

func TestHugeChunkKeepsTail(t *testing.T) {
	b := New(8)
	b.Append(PTY, []byte("0123456789abcdef"))
	chunks, _ := b.NewReader(0).Read(1 << 20)
	if len(chunks) != 1 || string(chunks[0].Data) != "89abcdef" {
		t.Fatalf("huge chunk = %q", chunks)
	}
}

func TestReadRespectsMaxBytes(t *testing.T) {
	b := New(1 << 20)
	for i := 0; i < 10; i++ {
		b.Append(Stdout, bytes.Repeat([]byte{'x'}, 100))
	}
	r := b.NewReader(0)
	if chunks, _ := r.Read(250); len(chunks) != 2 || r.Cursor() != 2 {
		t.Fatalf("limited read = %d chunks, cursor %d", len(chunks), r.Cursor())
	}
	if chunks, _ := r.Read(10); len(chunks) != 1 {
		t.Fatalf("a read returns at least one chunk; got %d", len(chunks))
	}
}

func TestChangedIsClosedByAppend(t *testing.T) {
	b := New(100)
	ch := b.Changed()
	select {
	case <-ch:
		t.Fatal("closed before append")
	default:
	}
	go b.Append(Stdout, []byte("x"))
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("not closed after append")
	}
}

func TestLiveReaderGetsEverything(t *testing.T) {
	b := NewWithStall(10, 5*time.Second)
	r := b.NewReader(0)
	done := make(chan []byte)
	go func() {
		var got []byte
		for len(got) < 400 {
			<-time.After(time.Millisecond)
			chunks, skipped := r.Read(1 << 20)
			if skipped {
				t.Error("live reader skipped output")
			}
			for _, c := range chunks {
				got = append(got, c.Data...)
			}
		}
		done <- got
	}()
	var want []byte
	for i := 0; i < 100; i++ {
		d := bytes.Repeat([]byte{byte('a' + i%26)}, 4)
		want = append(want, d...)
		b.Append(Stdout, d) // waits for the reader instead of dropping
		if b.Size() > 10+4 {
			t.Fatalf("size %d beyond capacity plus one chunk", b.Size())
		}
	}
	if got := <-done; !bytes.Equal(got, want) {
		t.Fatalf("reader got %d bytes, want %d", len(got), len(want))
	}
}

func TestStuckReaderIsDetached(t *testing.T) {
	b := NewWithStall(10, 150*time.Millisecond)
	r := b.NewReader(0)
	start := time.Now()
	for i := 0; i < 10; i++ {
		b.Append(Stdout, []byte("1234"))
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("writer waited %s for a stuck reader; want about one stall", d)
	}
	if _, skipped := r.Read(1 << 20); !skipped {
		t.Fatal("stuck reader did not skip")
	}
	// A closed reader is never waited for.
	r.Close()
	start = time.Now()
	for i := 0; i < 10; i++ {
		b.Append(Stdout, []byte("1234"))
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("writer waited for a closed reader")
	}
}

func TestReleaseAndCompaction(t *testing.T) {
	b := New(50)
	for i := 0; i < 1000; i++ {
		b.Append(Stdout, []byte("12345"))
	}
	if len(b.chunks)-b.head != 10 || len(b.chunks) > 200 {
		t.Fatalf("live %d, slice %d", len(b.chunks)-b.head, len(b.chunks))
	}
	b.Release()
	if b.Size() != 0 || b.First() != 1000 || b.Next() != 1000 {
		t.Fatalf("after release size %d first %d next %d", b.Size(), b.First(), b.Next())
	}
	b.Append(Stderr, []byte("z"))
	if c, _ := b.NewReader(0).Read(100); len(c) != 1 || c[0].Seq != 1000 {
		t.Fatalf("after release read %+v", c)
	}
}
