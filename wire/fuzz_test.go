package wire

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, claim more bytes than
// it has, ask for fewer than it has, or return anything but a frame
// error; and that a frame it accepts survives a round trip.
func FuzzParse(f *testing.F) {
	for _, seed := range [][]byte{
		le(`{"data_size": 5}`, "hello"),
		le(`{"data_size":0}`, ""),
		le(`{"a": [1, {"b": 2}], "data_size": 1}`, "x"),
		le(`{"data_size": 5}`, "hel"),
		{0xff, 0xff, 0xff, 0xff},
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		le(`{"data_size": -1}`, ""),
		le(`{"data_size": 1e3}`, ""),
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, bigEndian bool) {
		c := Codec{MaxHeaderBytes: 1 << 10, MaxBodyBytes: 1 << 16}
		if bigEndian {
			c.ByteOrder = BigEndian
		}
		c = c.WithDefaults()
		fr, n, need, err := c.Parse(b)
		switch {
		case err != nil:
			if !errors.Is(err, ErrMalformedFrame) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("error %v is not a frame error", err)
			}
			if n != 0 {
				t.Fatalf("n = %d with an error", n)
			}
		case n == 0:
			if need <= len(b) {
				t.Fatalf("incomplete, but need %d <= len %d", need, len(b))
			}
			if need > lengthSize+c.MaxHeaderBytes+c.MaxBodyBytes {
				t.Fatalf("need %d is beyond the limits", need)
			}
		default:
			if n > len(b) {
				t.Fatalf("n = %d > len %d", n, len(b))
			}
			again, err := c.AppendFrame(nil, fr.Body)
			if err != nil {
				t.Fatal(err)
			}
			fr2, n2, _, err := c.Parse(again)
			if err != nil || n2 != len(again) || !bytes.Equal(fr2.Body, fr.Body) {
				t.Fatalf("round trip: n=%d err=%v", n2, err)
			}
		}
	})
}
