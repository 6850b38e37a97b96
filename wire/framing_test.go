package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func lp(order binary.AppendByteOrder, body string) []byte {
	return append(order.AppendUint32(nil, uint32(len(body))), body...)
}

func TestLengthPrefixedParse(t *testing.T) {
	for _, tt := range []struct {
		order ByteOrder
		bo    binary.AppendByteOrder
	}{{LittleEndian, binary.LittleEndian}, {BigEndian, binary.BigEndian}} {
		c := Codec{Framing: FramingLengthPrefixed, ByteOrder: tt.order}.WithDefaults()
		stream := append(lp(tt.bo, "hello"), lp(tt.bo, "")...)
		stream = append(stream, lp(tt.bo, "world")...)
		var got []string
		for len(stream) > 0 {
			f, n, _, err := c.Parse(stream)
			if err != nil || n == 0 || f.Header != nil {
				t.Fatalf("%v: Parse: n=%d err=%v header=%q", tt.order, n, err, f.Header)
			}
			got = append(got, string(f.Body))
			stream = stream[n:]
		}
		if strings.Join(got, "|") != "hello||world" {
			t.Fatalf("%v: bodies %q", tt.order, got)
		}
		whole := lp(tt.bo, "split")
		for i := range whole {
			if _, n, need, err := c.Parse(whole[:i]); n != 0 || err != nil || need <= i {
				t.Fatalf("%v: prefix %d: n=%d need=%d err=%v", tt.order, i, n, need, err)
			}
		}
	}
}

func TestLengthPrefixedErrors(t *testing.T) {
	c := Codec{Framing: FramingLengthPrefixed, MaxBodyBytes: 10}.WithDefaults()
	for name, tt := range map[string]struct {
		in   []byte
		want error
	}{
		"negative":       {[]byte{0xff, 0xff, 0xff, 0xff}, ErrMalformedFrame},
		"over the limit": {lp(binary.LittleEndian, "01234567890"), ErrFrameTooLarge},
		"GET as length":  {[]byte("GET / HTTP/1.1"), ErrFrameTooLarge},
	} {
		if _, _, _, err := c.Parse(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
}

func TestRawParse(t *testing.T) {
	c := Codec{Framing: FramingRaw}.WithDefaults()
	if _, n, need, err := c.Parse(nil); n != 0 || need != 1 || err != nil {
		t.Fatalf("empty: n=%d need=%d err=%v", n, need, err)
	}
	// Whatever is there is one message: raw framing has the sticky-packet
	// problem by definition.
	f, n, _, err := c.Parse([]byte("ls -l\x00\xff"))
	if err != nil || n != 7 || string(f.Body) != "ls -l\x00\xff" || f.Header != nil {
		t.Fatalf("Parse = %q n=%d err=%v", f.Body, n, err)
	}
	if f, err := c.ParseDatagram(nil); err != nil || len(f.Body) != 0 {
		t.Fatalf("empty datagram: %q %v", f.Body, err)
	}
}

func TestAppendHeaderPerFraming(t *testing.T) {
	extra := HeaderField{Name: "exit_code", Value: 0}
	for _, tt := range []struct {
		codec Codec
		want  []byte
	}{
		{Codec{Framing: FramingJSONHeader}, le(`{"data_size": 2, "exit_code": 0}`, "hi")},
		{Codec{Framing: FramingLengthPrefixed}, lp(binary.LittleEndian, "hi")},
		{Codec{Framing: FramingLengthPrefixed, ByteOrder: BigEndian}, lp(binary.BigEndian, "hi")},
		{Codec{Framing: FramingRaw}, []byte("hi")},
	} {
		got, err := tt.codec.AppendFrame(nil, []byte("hi"), extra)
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%v: AppendFrame = %q, %v; want %q", tt.codec.Framing, got, err, tt.want)
		}
	}
}

func TestErrorFrameOnlyForJSONHeader(t *testing.T) {
	cause := errors.New("bad")
	for _, f := range []Framing{FramingLengthPrefixed, FramingRaw} {
		c := Codec{Framing: f}
		if got := c.AppendErrorFrame([]byte("x"), cause); string(got) != "x" {
			t.Errorf("%v: AppendErrorFrame appended %q", f, got[1:])
		}
	}
}

func TestReadFramePerFraming(t *testing.T) {
	lpCodec := Codec{Framing: FramingLengthPrefixed, MaxBodyBytes: 8}
	r := bufio.NewReader(bytes.NewReader(append(lp(binary.LittleEndian, "abc"), lp(binary.LittleEndian, "123456789")...)))
	if f, err := lpCodec.ReadFrame(r); err != nil || string(f.Body) != "abc" {
		t.Fatalf("length-prefixed: %q %v", f.Body, err)
	}
	if _, err := lpCodec.ReadFrame(r); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("length-prefixed over the limit: %v", err)
	}
	raw := Codec{Framing: FramingRaw}
	r = bufio.NewReader(strings.NewReader("HELLO"))
	if f, err := raw.ReadFrame(r); err != nil || string(f.Body) != "HELLO" {
		t.Fatalf("raw: %q %v", f.Body, err)
	}
	if _, err := raw.ReadFrame(r); err != io.EOF {
		t.Fatalf("raw at the end: %v", err)
	}
}
