package process

import (
	"context"
	"time"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/ringbuf"
	"burrow/agent/internal/wire"
)

// maxBatchBytes is the most output sent between two flushes of a stream.
const maxBatchBytes = 256 << 10

// follow streams p's events through rd: start, the output, then end. It
// closes rd. A slow stream slows the process down (ReaderStall at most per
// stall); a stream that stalls longer skips the output it missed (logged).
func follow(ctx context.Context, p *Process, s *connect.Stream, rd *ringbuf.Reader, keepalive time.Duration, logf func(string, ...interface{})) error {
	defer rd.Close()
	if err := s.Send(event(&wire.ProcessEvent{Start: &wire.StartEvent{Pid: uint32(p.Pid)}})); err != nil {
		return err
	}
	ticker := time.NewTicker(keepalive)
	defer ticker.Stop()
	warned := false
	for {
		changed := p.out.Changed()
		chunks, skipped := rd.Read(maxBatchBytes)
		end, endSeq, ended := p.endState()
		if ended {
			chunks = before(chunks, endSeq)
		}
		if skipped && !warned {
			warned = true
			logf("stream of process %d fell behind; skipped output it could not keep up with", p.Pid)
		}
		if len(chunks) > 0 {
			if err := s.SendBatch(dataEvents(chunks)); err != nil {
				return err
			}
			ticker.Reset(keepalive)
			continue
		}
		if ended {
			return s.Send(event(&wire.ProcessEvent{End: &end}))
		}
		select {
		case <-changed:
		case <-p.done:
		case <-ticker.C:
			if err := s.Send(event(&wire.ProcessEvent{Keepalive: &wire.Empty{}})); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func event(ev *wire.ProcessEvent) wire.StreamResponse { return wire.StreamResponse{Event: ev} }

func before(chunks []ringbuf.Chunk, limit uint64) []ringbuf.Chunk {
	n := 0
	for n < len(chunks) && chunks[n].Seq < limit {
		n++
	}
	return chunks[:n]
}

// dataEvents turns chunks into data events, merging neighbours of one kind.
func dataEvents(chunks []ringbuf.Chunk) []interface{} {
	var out []interface{}
	for i := 0; i < len(chunks); {
		kind := chunks[i].Kind
		var data []byte
		j := i
		for ; j < len(chunks) && chunks[j].Kind == kind; j++ {
			data = append(data, chunks[j].Data...)
		}
		i = j
		d := &wire.DataEvent{}
		switch kind {
		case ringbuf.Stdout:
			d.Stdout = data
		case ringbuf.Stderr:
			d.Stderr = data
		default:
			d.PTY = data
		}
		out = append(out, event(&wire.ProcessEvent{Data: d}))
	}
	return out
}
