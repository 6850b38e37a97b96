package wire

import "testing"

func BenchmarkParse(b *testing.B) {
	c := Codec{}.WithDefaults()
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"canonical", le(`{"data_size": 64}`, string(make([]byte, 64)))},
		{"other-header", le(`{"file": "a.txt", "data_size": 64}`, string(make([]byte, 64)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.frame)))
			for b.Loop() {
				if _, n, _, err := c.Parse(bc.frame); n != len(bc.frame) || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	c := Codec{}.WithDefaults()
	body := make([]byte, 64)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = c.AppendFrame(buf[:0], body)
	}
}
