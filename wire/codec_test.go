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

// frame builds a JSON-header frame by hand, independently of AppendFrame.
func frame(order binary.AppendByteOrder, header string, body string) []byte {
	b := order.AppendUint32(nil, uint32(len(header)))
	return append(append(b, header...), body...)
}

func le(header, body string) []byte { return frame(binary.LittleEndian, header, body) }

func TestParseWholeFrames(t *testing.T) {
	tests := []struct {
		name   string
		codec  Codec
		input  []byte
		header string
		body   string
	}{
		{"python json.dumps", Codec{}, le(`{"data_size": 5}`, "hello"), `{"data_size": 5}`, "hello"},
		{"compact", Codec{}, le(`{"data_size":5}`, "hello"), `{"data_size":5}`, "hello"},
		{"empty body", Codec{}, le(`{"data_size": 0}`, ""), `{"data_size": 0}`, ""},
		{"extra fields", Codec{}, le(`{"file": "a.txt", "data_size": 3, "md5": null}`, "abc"), `{"file": "a.txt", "data_size": 3, "md5": null}`, "abc"},
		{"spaces", Codec{}, le(` { "data_size" : 2 } `, "hi"), ` { "data_size" : 2 } `, "hi"},
		{"big endian", Codec{ByteOrder: BigEndian}, frame(binary.BigEndian, `{"data_size": 2}`, "hi"), `{"data_size": 2}`, "hi"},
		{"binary body", Codec{}, le(`{"data_size": 3}`, "\x00\xff\n"), `{"data_size": 3}`, "\x00\xff\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.codec.WithDefaults()
			f, n, _, err := c.Parse(tt.input)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(tt.input) || string(f.Header) != tt.header || string(f.Body) != tt.body {
				t.Fatalf("Parse = (%q, %q, n=%d), want (%q, %q, n=%d)", f.Header, f.Body, n, tt.header, tt.body, len(tt.input))
			}
		})
	}
}

// TestParseSplit feeds every prefix of a frame: each must ask for more
// bytes, with need beyond what it has, until the whole frame is there.
func TestParseSplit(t *testing.T) {
	c := Codec{}.WithDefaults()
	whole := le(`{"data_size": 11}`, "hello world")
	for i := 0; i < len(whole); i++ {
		_, n, need, err := c.Parse(whole[:i])
		if err != nil || n != 0 || need <= i || need > len(whole) {
			t.Fatalf("prefix %d: n=%d need=%d err=%v, want n=0, %d < need <= %d", i, n, need, err, i, len(whole))
		}
	}
}

// TestParseMerged parses several frames sent in one write, as TCP may
// deliver them: the sticky-packet case.
func TestParseMerged(t *testing.T) {
	c := Codec{}.WithDefaults()
	var stream []byte
	want := []string{"one", "", "three", strings.Repeat("x", 5000)}
	for _, body := range want {
		var err error
		stream, err = c.AppendFrame(stream, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(stream) > 0 {
		f, n, _, err := c.Parse(stream)
		if err != nil || n == 0 {
			t.Fatalf("Parse: n=%d err=%v", n, err)
		}
		got = append(got, string(f.Body))
		stream = stream[n:]
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("bodies = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	small := Codec{MaxHeaderBytes: 64, MaxBodyBytes: 100}
	tests := []struct {
		name  string
		codec Codec
		input []byte
		want  error
	}{
		{"header length 0", Codec{}, []byte{0, 0, 0, 0}, ErrMalformedFrame},
		{"negative header length", Codec{}, []byte{0xfe, 0xff, 0xff, 0xff}, ErrMalformedFrame},
		{"header length 0xFFFFFFFF", Codec{}, []byte{0xff, 0xff, 0xff, 0xff}, ErrMalformedFrame},
		{"HTTP request read as a length", Codec{}, []byte("GET / HTTP/1.1\r\n"), ErrFrameTooLarge},
		{"header over the limit", small, le(strings.Repeat(" ", 65), ""), ErrFrameTooLarge},
		{"not JSON", Codec{}, le(`data_size=5`, "hello"), ErrMalformedFrame},
		{"not an object", Codec{}, le(`[5]`, ""), ErrMalformedFrame},
		{"null", Codec{}, le(`null`, ""), ErrMalformedFrame},
		{"no data_size", Codec{}, le(`{"size": 5}`, "hello"), ErrMalformedFrame},
		{"data_size of another case", Codec{}, le(`{"DATA_SIZE": 5}`, "hello"), ErrMalformedFrame},
		{"negative data_size", Codec{}, le(`{"data_size": -1}`, ""), ErrMalformedFrame},
		{"fractional data_size", Codec{}, le(`{"data_size": 1.5}`, "h"), ErrMalformedFrame},
		{"string data_size", Codec{}, le(`{"data_size": "5"}`, "hello"), ErrMalformedFrame},
		{"leading zero", Codec{}, le(`{"data_size": 05}`, "hello"), ErrMalformedFrame},
		{"garbage after the object", Codec{}, le(`{"data_size": 5}xyz`, "hello"), ErrMalformedFrame},
		{"data_size over the limit", small, le(`{"data_size": 101}`, ""), ErrFrameTooLarge},
		{"data_size beyond int64", Codec{}, le(`{"data_size": 99999999999999999999}`, ""), ErrMalformedFrame},
		{"huge data_size", Codec{}, le(`{"data_size": 999999999999}`, ""), ErrFrameTooLarge},
		{"header not UTF-8", Codec{}, le("{\"data_size\": 0, \"x\": \"\xff\xfe\"}", ""), ErrMalformedFrame},
		{"header with a lone surrogate byte run", Codec{}, le("{\"x\": \"\xed\xa0\x80\", \"data_size\": 0}", ""), ErrMalformedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.codec.WithDefaults()
			_, n, _, err := c.Parse(tt.input)
			if !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("Parse(%q) = n=%d err=%v, want %v", tt.input, n, err, tt.want)
			}
		})
	}
}

// TestZeroCodec: the zero Codec is the tutorial's framing with the
// default limits, without WithDefaults.
func TestZeroCodec(t *testing.T) {
	var c Codec
	b, err := c.AppendFrame(nil, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, le(`{"data_size": 2}`, "hi")) {
		t.Fatalf("AppendFrame = %q", b)
	}
	if f, err := c.ReadFrame(bufio.NewReader(bytes.NewReader(b))); err != nil || string(f.Body) != "hi" {
		t.Fatalf("ReadFrame = %q, %v", f.Body, err)
	}
	if _, _, _, err := c.Parse(le(`{"data_size": 4194305}`, "")); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a body over the default limit: %v", err)
	}
}

func TestParseDatagram(t *testing.T) {
	c := Codec{}.WithDefaults()
	ok := le(`{"data_size": 2}`, "hi")
	if f, err := c.ParseDatagram(ok); err != nil || string(f.Body) != "hi" {
		t.Fatalf("ParseDatagram(whole) = %q, %v", f.Body, err)
	}
	for name, b := range map[string][]byte{
		"short":    ok[:len(ok)-1],
		"trailing": append(append([]byte{}, ok...), 'x'),
		"tiny":     {1},
		"raw text": []byte("hello"),
	} {
		if _, err := c.ParseDatagram(b); !errors.Is(err, ErrMalformedFrame) && !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("%s: err = %v, want a frame error", name, err)
		}
	}
}

func TestAppendFrameIsWhatPythonWrites(t *testing.T) {
	for _, tt := range []struct {
		order ByteOrder
		bo    binary.AppendByteOrder
	}{{LittleEndian, binary.LittleEndian}, {BigEndian, binary.BigEndian}} {
		c := Codec{ByteOrder: tt.order}.WithDefaults()
		got, err := c.AppendFrame([]byte("prefix"), []byte("HELLO"))
		if err != nil {
			t.Fatal(err)
		}
		// struct.pack("i", len(h)) + h + body, with h = json.dumps({"data_size": 5})
		want := append([]byte("prefix"), frame(tt.bo, `{"data_size": 5}`, "HELLO")...)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: AppendFrame = %q, want %q", tt.order, got, want)
		}
	}
}

func TestAppendHeaderExtraFields(t *testing.T) {
	c := Codec{}.WithDefaults()
	got, err := c.AppendFrame(nil, []byte("ab"), HeaderField{"exit_code", 2}, HeaderField{"truncated", false})
	if err != nil {
		t.Fatal(err)
	}
	want := le(`{"data_size": 2, "exit_code": 2, "truncated": false}`, "ab")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := c.AppendFrame(nil, nil, HeaderField{"bad", func() {}}); err == nil {
		t.Fatal("a field that cannot be encoded gave no error")
	}
}

func TestAppendErrorFrame(t *testing.T) {
	c := Codec{}.WithDefaults()
	b := c.AppendErrorFrame(nil, errors.New(`bad "frame"`))
	f, n, _, err := c.Parse(b)
	if err != nil || n != len(b) {
		t.Fatalf("error frame does not parse: n=%d err=%v", n, err)
	}
	if want := `{"error": "bad \"frame\"", "data_size": 0}`; string(f.Header) != want {
		t.Fatalf("header = %s, want %s", f.Header, want)
	}
}

func TestReadFrame(t *testing.T) {
	c := Codec{MaxBodyBytes: 10}.WithDefaults()
	stream := append(le(`{"data_size": 3}`, "abc"), le(`{"data_size": 0}`, "")...)
	r := bufio.NewReader(bytes.NewReader(stream))
	for _, want := range []string{"abc", ""} {
		f, err := c.ReadFrame(r)
		if err != nil || string(f.Body) != want {
			t.Fatalf("ReadFrame = %q, %v; want %q", f.Body, err, want)
		}
	}
	if _, err := c.ReadFrame(r); err != io.EOF {
		t.Fatalf("at the end: err = %v, want io.EOF", err)
	}
	cut := le(`{"data_size": 3}`, "ab")
	if _, err := c.ReadFrame(bufio.NewReader(bytes.NewReader(cut))); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut frame: err = %v, want io.ErrUnexpectedEOF", err)
	}
	big := le(`{"data_size": 11}`, "")
	if _, err := c.ReadFrame(bufio.NewReader(bytes.NewReader(big))); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("big frame: err = %v, want ErrFrameTooLarge", err)
	}
}

// TestBodyStart feeds every prefix of a frame of each framing: the body's
// start is known exactly once the bytes before it are all there.
func TestBodyStart(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		whole []byte
		start int
	}{
		{"json header", Codec{}, le(`{"data_size": 11}`, "hello world"), 4 + len(`{"data_size": 11}`)},
		{"json header, big endian", Codec{ByteOrder: BigEndian}, frame(binary.BigEndian, `{"data_size": 2}`, "hi"), 4 + len(`{"data_size": 2}`)},
		{"length prefixed", Codec{Framing: FramingLengthPrefixed}, append(binary.LittleEndian.AppendUint32(nil, 5), "hello"...), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.codec.WithDefaults()
			for i := 0; i <= len(tt.whole); i++ {
				start, ok := c.BodyStart(tt.whole[:i])
				if want := i >= tt.start; ok != want || ok && start != tt.start {
					t.Fatalf("prefix %d: BodyStart = (%d, %v), want (%d, %v)", i, start, ok, tt.start, want)
				}
			}
		})
	}
	raw := Codec{Framing: FramingRaw}.WithDefaults()
	if _, ok := raw.BodyStart([]byte("abc")); ok {
		t.Fatal("a raw frame has no known body start")
	}
}
