package rawsock

import "testing"

func TestUpperASCIIMatchesPythonBytesUpper(t *testing.T) {
	in := []byte("hello, Wörld! 123 \xff abcxyz")
	upperASCII(in)
	if want := "HELLO, WöRLD! 123 \xff ABCXYZ"; string(in) != want {
		t.Fatalf("got %q, want %q", in, want)
	}
}

func TestSizeClass(t *testing.T) {
	for _, tt := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {4096, 0}, {4097, 1}, {8192, 1}, {1 << 20, 8}, {64 << 20, 14}, {64<<20 + 1, -1},
	} {
		if got := sizeClass(tt.n); got != tt.class {
			t.Errorf("sizeClass(%d) = %d, want %d", tt.n, got, tt.class)
		}
		if tt.class >= 0 {
			if b := getBuffer(tt.n); len(b.b) < tt.n {
				t.Errorf("getBuffer(%d) has %d bytes", tt.n, len(b.b))
			}
		}
	}
}
