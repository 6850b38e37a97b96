package rawsock

import "testing"

func TestBufferClasses(t *testing.T) {
	for _, c := range []struct{ n, size int }{{0, 256}, {1, 256}, {256, 256}, {257, 1024}, {1024, 1024}} {
		b := getSmallBuffer(c.n)
		if len(b.b) != c.size || cap(b.b) != c.size {
			t.Errorf("getSmallBuffer(%d) has %d/%d bytes; want %d", c.n, len(b.b), cap(b.b), c.size)
		}
		putBuffer(b)
	}
	for _, c := range []struct{ n, size int }{{1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10}, {1 << 20, 1 << 20}} {
		b := getBuffer(c.n)
		if len(b.b) != c.size {
			t.Errorf("getBuffer(%d) has %d bytes; want %d", c.n, len(b.b), c.size)
		}
		putBuffer(b)
	}
	// A buffer of a size no pool keeps is left to the GC, not pooled
	// under a class it does not fill.
	odd := &buffer{b: make([]byte, 0, 300)}
	putBuffer(odd)
	if got := getSmallBuffer(300); cap(got.b) != 1024 {
		t.Errorf("getSmallBuffer(300) after putting a 300-byte buffer has cap %d; want 1024", cap(got.b))
	}
}
