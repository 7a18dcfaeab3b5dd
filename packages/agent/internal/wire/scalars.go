// Package wire holds the JSON shapes of the envd protocol messages (process.*
// and filesystem.*), written as canonical proto3 JSON: camelCase names, bytes
// as base64, 64-bit integers as strings, enums by name, defaults omitted.
// Requests are parsed leniently: snake_case names, enum numbers and integers
// given as strings are accepted too.
package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bytes is a proto3 bytes field: standard base64 out; standard or URL-safe,
// padded or not, accepted in.
type Bytes []byte

// MarshalJSON encodes b as standard padded base64.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON accepts any of the four base64 alphabets/padding variants.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("bytes field must be a base64 string")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(s); err == nil {
			*b = out
			return nil
		}
	}
	return fmt.Errorf("bytes field is not valid base64")
}

// U32 is a proto3 uint32 field that also accepts a decimal string.
type U32 uint32

// UnmarshalJSON accepts 12, 12.0 or "12".
func (u *U32) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	s := strings.Trim(string(data), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return fmt.Errorf("invalid uint32 value %s", data)
	}
	*u = U32(f)
	return nil
}

// Timestamp is google.protobuf.Timestamp in its JSON form: RFC 3339 in UTC
// with 0, 3, 6 or 9 fractional digits (protobuf parsers reject other widths).
type Timestamp time.Time

// MarshalJSON formats t as protobuf's Timestamp JSON.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(FormatTimestamp(time.Time(t)))
}

// FormatTimestamp renders t the way protobuf's Timestamp JSON mapping does.
func FormatTimestamp(t time.Time) string {
	t = t.UTC()
	base := t.Format("2006-01-02T15:04:05")
	ns := t.Nanosecond()
	switch {
	case ns == 0:
		return base + "Z"
	case ns%1000000 == 0:
		return fmt.Sprintf("%s.%03dZ", base, ns/1000000)
	case ns%1000 == 0:
		return fmt.Sprintf("%s.%06dZ", base, ns/1000)
	}
	return fmt.Sprintf("%s.%09dZ", base, ns)
}

// enumValue decodes an enum given by name (any of names) or by number.
func enumValue(data []byte, names map[string]int32) (int32, error) {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return 0, nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return 0, err
		}
		if v, ok := names[s]; ok {
			return v, nil
		}
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			return int32(n), nil
		}
		return 0, fmt.Errorf("unknown enum value %q", s)
	}
	n, err := strconv.ParseInt(string(data), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid enum value %s", data)
	}
	return int32(n), nil
}

func enumName(v int32, names map[int32]string) ([]byte, error) {
	if n, ok := names[v]; ok {
		return json.Marshal(n)
	}
	return []byte(strconv.Itoa(int(v))), nil
}

// snakeOrCamel decodes a JSON object whose multi-word fields may be spelled
// in snake_case: each key in aliases (snake → camel) is renamed first.
func snakeOrCamel(data []byte, aliases map[string]string, v interface{}) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	for snake, camel := range aliases {
		if val, ok := raw[snake]; ok {
			if _, has := raw[camel]; !has {
				raw[camel] = val
			}
			delete(raw, snake)
		}
	}
	norm, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(norm, v)
}
