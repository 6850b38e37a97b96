package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Framing says how messages are delimited on the wire.
type Framing uint8

// The framings. The zero value is not a framing: Codec.WithDefaults turns
// it into FramingJSONHeader.
const (
	// FramingJSONHeader is the tutorial's fix for sticky packets: a 4-byte
	// header length, a UTF-8 JSON header object holding "data_size", then
	// data_size body bytes.
	FramingJSONHeader Framing = iota + 1
	// FramingLengthPrefixed is the tutorial's earlier form: a 4-byte body
	// length, then the body.
	FramingLengthPrefixed
	// FramingRaw has no framing at all: on a stream, what one read returns
	// is one message, as the tutorial's server's recv(1024); on a datagram
	// socket, one datagram is one message. Replies are the bare body.
	FramingRaw
)

func (f Framing) String() string {
	switch f {
	case FramingJSONHeader:
		return "json-header"
	case FramingLengthPrefixed:
		return "length-prefixed"
	case FramingRaw:
		return "raw"
	default:
		return "framing(" + strconv.Itoa(int(f)) + ")"
	}
}

// ByteOrder is the byte order of a framing's 4-byte length fields.
type ByteOrder uint8

// The byte orders. The zero value becomes LittleEndian.
const (
	// LittleEndian is what Python's struct.pack("i", n) writes on x86-64
	// and arm64, the tutorial's machines.
	LittleEndian ByteOrder = iota + 1
	// BigEndian is network byte order, Python's struct.pack("!i", n).
	BigEndian
)

func (o ByteOrder) String() string {
	switch o {
	case LittleEndian:
		return "little-endian"
	case BigEndian:
		return "big-endian"
	default:
		return "byte-order(" + strconv.Itoa(int(o)) + ")"
	}
}

// Default and hard limits of a Codec.
const (
	// DefaultMaxHeaderBytes bounds a JSON header.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxBodyBytes bounds a frame body.
	DefaultMaxBodyBytes = 4 << 20
	// HardMaxBodyBytes is the largest body limit a listener may set.
	HardMaxBodyBytes = 64 << 20

	lengthSize = 4
)

// Codec is a framing with its byte order and size limits. The zero value
// is the tutorial's default: JSON header framing, little-endian lengths,
// the default limits.
type Codec struct {
	// Framing of the frames. Default: FramingJSONHeader.
	Framing Framing
	// ByteOrder of the 4-byte lengths. Default: LittleEndian.
	ByteOrder ByteOrder
	// MaxHeaderBytes bounds the JSON header, in bytes. Default: 16 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds the body, in bytes. Default: 4 MiB.
	MaxBodyBytes int
}

// WithDefaults returns c with every zero field set to its default.
func (c Codec) WithDefaults() Codec {
	if c.Framing == 0 {
		c.Framing = FramingJSONHeader
	}
	if c.ByteOrder == 0 {
		c.ByteOrder = LittleEndian
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return c
}

// Frame is one decoded message. Header is the JSON header as received
// (nil for framings without one); Body is the payload. Both alias the
// buffer they were parsed from.
type Frame struct {
	Header []byte
	Body   []byte
}

// order returns both binary.ByteOrder and binary.AppendByteOrder.
func (c *Codec) order() interface {
	binary.ByteOrder
	binary.AppendByteOrder
} {
	if c.ByteOrder == BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Parse decodes the frame at the start of buf. When buf holds a whole
// frame it returns the frame and n, the bytes the frame spans. When buf
// holds only the start of one it returns n == 0 and need, the size of the
// whole frame as far as it is known yet (always more than len(buf)), so
// the caller can read until it has that much. A frame that breaks the
// framing or the limits gives an error wrapping ErrMalformedFrame or
// ErrFrameTooLarge; Parse never allocates what a frame declares.
func (c *Codec) Parse(buf []byte) (f Frame, n, need int, err error) {
	switch c.Framing {
	case FramingRaw:
		if len(buf) == 0 {
			return Frame{}, 0, 1, nil
		}
		return Frame{Body: buf[:len(buf):len(buf)]}, len(buf), 0, nil
	case FramingLengthPrefixed:
		if len(buf) < lengthSize {
			return Frame{}, 0, lengthSize, nil
		}
		size, err := c.bodyLengthPrefix(buf)
		if err != nil {
			return Frame{}, 0, 0, err
		}
		end := lengthSize + size
		if len(buf) < end {
			return Frame{}, 0, end, nil
		}
		return Frame{Body: buf[lengthSize:end:end]}, end, 0, nil
	}
	if len(buf) < lengthSize {
		return Frame{}, 0, lengthSize, nil
	}
	headerLen, err := c.headerLength(buf)
	if err != nil {
		return Frame{}, 0, 0, err
	}
	bodyStart := lengthSize + headerLen
	if len(buf) < bodyStart {
		return Frame{}, 0, bodyStart, nil
	}
	header := buf[lengthSize:bodyStart]
	size, err := c.bodyLength(header)
	if err != nil {
		return Frame{}, 0, 0, err
	}
	end := bodyStart + size
	if len(buf) < end {
		return Frame{}, 0, end, nil
	}
	return Frame{Header: header, Body: buf[bodyStart:end:end]}, end, 0, nil
}

// BodyStart reports where the body of the frame at the start of buf
// begins, once buf holds all that comes before it (the length prefix and,
// in the JSON header framing, the header): a caller that knows the
// frame's length from Parse's need may then stream the body instead of
// buffering it. It returns false while the body's start is not yet
// known, and always for FramingRaw, whose frames have no length. It
// checks nothing that Parse has not: call it after Parse.
func (c *Codec) BodyStart(buf []byte) (int, bool) {
	switch c.Framing {
	case FramingRaw:
		return 0, false
	case FramingLengthPrefixed:
		return lengthSize, len(buf) >= lengthSize
	}
	if len(buf) < lengthSize {
		return 0, false
	}
	start := lengthSize + int(int32(c.order().Uint32(buf)))
	return start, start > lengthSize && len(buf) >= start
}

// MinFrame is the fewest bytes that can hold a frame, or its length.
func (c *Codec) MinFrame() int {
	if c.Framing == FramingRaw {
		return 1
	}
	return lengthSize
}

// headerLength reads and checks the 4-byte header length at prefix[0:4].
func (c *Codec) headerLength(prefix []byte) (int, error) {
	n := int32(c.order().Uint32(prefix))
	if n <= 0 {
		return 0, fmt.Errorf("%w: header length %d", ErrMalformedFrame, n)
	}
	if limit := orDefault(c.MaxHeaderBytes, DefaultMaxHeaderBytes); int(n) > limit {
		return 0, fmt.Errorf("%w: header length %d exceeds the limit of %d bytes", ErrFrameTooLarge, n, limit)
	}
	return int(n), nil
}

// bodyLengthPrefix reads and checks the 4-byte body length of a
// length-prefixed frame at prefix[0:4].
func (c *Codec) bodyLengthPrefix(prefix []byte) (int, error) {
	n := int32(c.order().Uint32(prefix))
	if n < 0 {
		return 0, fmt.Errorf("%w: negative body length %d", ErrMalformedFrame, n)
	}
	return c.checkBodySize(int64(n))
}

// bodyLength reads data_size from a JSON header and checks it.
func (c *Codec) bodyLength(header []byte) (int, error) {
	size, err := parseDataSize(header)
	if err != nil {
		return 0, err
	}
	return c.checkBodySize(size)
}

func (c *Codec) checkBodySize(size int64) (int, error) {
	if limit := orDefault(c.MaxBodyBytes, DefaultMaxBodyBytes); size > int64(limit) {
		return 0, fmt.Errorf("%w: data_size %d exceeds the limit of %d bytes", ErrFrameTooLarge, size, limit)
	}
	return int(size), nil
}

func orDefault(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

// ParseDatagram decodes a datagram that must hold exactly one frame.
func (c *Codec) ParseDatagram(b []byte) (Frame, error) {
	if c.Framing == FramingRaw {
		return Frame{Body: b}, nil // an empty datagram is an empty message
	}
	f, n, _, err := c.Parse(b)
	switch {
	case err != nil:
		return Frame{}, err
	case n == 0:
		return Frame{}, fmt.Errorf("%w: datagram of %d bytes holds part of a frame", ErrMalformedFrame, len(b))
	case n != len(b):
		return Frame{}, fmt.Errorf("%w: datagram holds %d bytes after its frame", ErrMalformedFrame, len(b)-n)
	}
	return f, nil
}

// canonicalPrefixes are the headers Python's json.dumps({"data_size": n})
// and its compact form write; parseDataSize reads them without a JSON
// decoder because they are nearly every header on the wire.
var canonicalPrefixes = [...]string{`{"data_size": `, `{"data_size":`}

// parseDataSize returns the non-negative integer "data_size" of a JSON
// header object.
func parseDataSize(header []byte) (int64, error) {
	for _, p := range canonicalPrefixes {
		if n, ok := canonicalDataSize(header, p); ok {
			return n, nil
		}
	}
	// encoding/json replaces invalid UTF-8 with U+FFFD instead of refusing
	// it, and the header is UTF-8 JSON: a peer that sends anything else
	// does not speak the protocol. (The canonical forms are ASCII.)
	if !utf8.Valid(header) {
		return 0, fmt.Errorf("%w: header is not valid UTF-8", ErrMalformedFrame)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(header, &obj); err != nil || obj == nil {
		return 0, fmt.Errorf("%w: header is not a JSON object", ErrMalformedFrame)
	}
	raw, ok := obj["data_size"]
	if !ok {
		return 0, fmt.Errorf("%w: header has no data_size", ErrMalformedFrame)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: data_size %s is not an integer", ErrMalformedFrame, truncateForError(raw))
	}
	if n < 0 {
		return 0, fmt.Errorf("%w: negative data_size %d", ErrMalformedFrame, n)
	}
	return n, nil
}

// canonicalDataSize matches prefix, 1 to 18 decimal digits without a
// leading zero, and "}". Anything else is left to the JSON decoder.
func canonicalDataSize(h []byte, prefix string) (int64, bool) {
	if len(h) < len(prefix)+2 || string(h[:len(prefix)]) != prefix || h[len(h)-1] != '}' {
		return 0, false
	}
	digits := h[len(prefix) : len(h)-1]
	if len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

func truncateForError(b []byte) string {
	const max = 32
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// HeaderField is an extra field of a reply's JSON header, after
// "data_size". Value is encoded with encoding/json.
type HeaderField struct {
	Name  string
	Value any
}

// AppendHeader appends the length prefix and JSON header of a frame whose
// body has bodyLen bytes; the body itself is not appended, so a large one
// can be written from where it is. The JSON header is what Python's
// json.dumps writes: {"data_size": N} and any extra fields after it. The
// other framings have no place for extra fields: a length-prefixed frame
// gets only its length, a raw one nothing.
func (c *Codec) AppendHeader(dst []byte, bodyLen int, extra ...HeaderField) ([]byte, error) {
	switch c.Framing {
	case FramingRaw:
		return dst, nil
	case FramingLengthPrefixed:
		return c.order().AppendUint32(dst, uint32(bodyLen)), nil
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, `{"data_size": `...)
	dst = strconv.AppendInt(dst, int64(bodyLen), 10)
	for _, f := range extra {
		v, err := json.Marshal(f.Value)
		if err != nil {
			return dst[:start], fmt.Errorf("encode header field %q: %w", f.Name, err)
		}
		dst = append(dst, ", "...)
		dst = strconv.AppendQuote(dst, f.Name)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
	}
	dst = append(dst, '}')
	c.order().PutUint32(dst[start:], uint32(len(dst)-start-lengthSize))
	return dst, nil
}

// AppendRawHeader appends the framing's prefix and header for a frame of
// bodyLen bytes whose JSON header is header as given — a frame passed
// through from another peer, whose header's fields are kept as they are
// (the caller has checked its data_size, as Parse and ReadFrame do). The
// other framings ignore header, as AppendHeader ignores extra fields.
func (c *Codec) AppendRawHeader(dst, header []byte, bodyLen int) []byte {
	switch c.Framing {
	case FramingRaw:
		return dst
	case FramingLengthPrefixed:
		return c.order().AppendUint32(dst, uint32(bodyLen))
	}
	dst = c.order().AppendUint32(dst, uint32(len(header)))
	return append(dst, header...)
}

// HeaderText is the JSON header inside what AppendHeader wrote, or nil
// for framings without one.
func (c *Codec) HeaderText(prefixAndHeader []byte) []byte {
	if c.Framing != FramingJSONHeader && c.Framing != 0 {
		return nil
	}
	return prefixAndHeader[lengthSize:]
}

// AppendFrame appends a whole frame: length prefix, header and body.
func (c *Codec) AppendFrame(dst, body []byte, extra ...HeaderField) ([]byte, error) {
	dst, err := c.AppendHeader(dst, len(body), extra...)
	if err != nil {
		return dst, err
	}
	return append(dst, body...), nil
}

// AppendErrorFrame appends the frame a listener sends before it closes a
// connection on a bad frame: {"error": "...", "data_size": 0}. Only the
// JSON header framing can say what went wrong; with the others nothing is
// appended, since any bytes would read as a reply, and the connection is
// just closed.
func (c *Codec) AppendErrorFrame(dst []byte, cause error) []byte {
	if c.Framing != FramingJSONHeader && c.Framing != 0 {
		return dst
	}
	start := len(dst)
	msg, _ := json.Marshal(cause.Error()) // a string always encodes
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, `{"error": `...)
	dst = append(dst, msg...)
	dst = append(dst, `, "data_size": 0}`...)
	c.order().PutUint32(dst[start:], uint32(len(dst)-start-lengthSize))
	return dst
}

// ReadFrame reads one frame from r, for clients. It checks the limits
// before it allocates, and returns io.EOF only when r ends between frames.
// A raw frame is what one read returns, as with the tutorial's recv.
func (c *Codec) ReadFrame(r *bufio.Reader) (Frame, error) {
	switch c.Framing {
	case FramingRaw:
		buf := make([]byte, max(r.Size(), 64<<10))
		n, err := r.Read(buf)
		if n > 0 {
			return Frame{Body: buf[:n]}, nil
		}
		return Frame{}, err
	case FramingLengthPrefixed:
		var prefix [lengthSize]byte
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return Frame{}, err
		}
		size, err := c.bodyLengthPrefix(prefix[:])
		if err != nil {
			return Frame{}, err
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return Frame{}, unexpectedEOF(err)
		}
		return Frame{Body: body}, nil
	}
	var prefix [lengthSize]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return Frame{}, err
	}
	headerLen, err := c.headerLength(prefix[:])
	if err != nil {
		return Frame{}, err
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(r, header); err != nil {
		return Frame{}, unexpectedEOF(err)
	}
	size, err := c.bodyLength(header)
	if err != nil {
		return Frame{Header: header}, err
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return Frame{Header: header}, unexpectedEOF(err)
	}
	return Frame{Header: header, Body: body}, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
