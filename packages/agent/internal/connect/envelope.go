package connect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Envelope flags of the Connect streaming protocol.
const (
	FlagCompressed byte = 0x01
	FlagEndStream  byte = 0x02
)

// envelopeHeaderLen is one flag byte plus a 4-byte big-endian payload length.
const envelopeHeaderLen = 5

// ErrEnvelopeTooLarge is returned when a declared payload exceeds the limit.
var ErrEnvelopeTooLarge = errors.New("envelope payload exceeds the size limit")

// WriteEnvelope writes one envelope: flags, big-endian length, payload.
func WriteEnvelope(w io.Writer, flags byte, payload []byte) error {
	var hdr [envelopeHeaderLen]byte
	hdr[0] = flags
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// AppendEnvelope appends one envelope to dst and returns the extended slice.
func AppendEnvelope(dst []byte, flags byte, payload []byte) []byte {
	var hdr [envelopeHeaderLen]byte
	hdr[0] = flags
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}

// ReadEnvelope reads one envelope from r. It returns io.EOF when r is empty
// and io.ErrUnexpectedEOF when an envelope is cut short.
func ReadEnvelope(r io.Reader, maxPayload int) (flags byte, payload []byte, err error) {
	var hdr [envelopeHeaderLen]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if maxPayload >= 0 && uint64(n) > uint64(maxPayload) {
		return 0, nil, fmt.Errorf("%w: %d > %d bytes", ErrEnvelopeTooLarge, n, maxPayload)
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// EndStreamPayload is the JSON of the final envelope: {} on success, otherwise
// {"error":{"code":…,"message":…}}.
func EndStreamPayload(err error) []byte {
	if err == nil {
		return []byte("{}")
	}
	out := append([]byte(`{"error":`), MarshalError(err)...)
	return append(out, '}')
}
