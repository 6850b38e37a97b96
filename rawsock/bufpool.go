package rawsock

import (
	"math/bits"
	"sync"
)

// Buffers come from size classes of powers of two, 4 KiB to 64 MiB, each
// with its own sync.Pool, so a connection holds a buffer only while it has
// bytes to work on and an idle connection holds none.
const (
	minBufShift = 12 // 4 KiB
	maxBufShift = 26 // 64 MiB
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// buffer wraps a slice so that pooling it does not allocate.
type buffer struct{ b []byte }

// sizeClass returns the index of the smallest class holding n bytes, or -1
// when n is above the largest class.
func sizeClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxBufShift {
		return -1
	}
	return shift - minBufShift
}

// getBuffer returns a buffer of at least n bytes; its contents are stale.
func getBuffer(n int) *buffer {
	class := sizeClass(n)
	if class < 0 {
		return &buffer{b: make([]byte, n)}
	}
	if v := bufPools[class].Get(); v != nil {
		return v.(*buffer)
	}
	return &buffer{b: make([]byte, 1<<(class+minBufShift))}
}

// Small buffers, for what waits rather than works (a held reply): 256 B
// and 1 KiB, so that a queue of small replies does not hold 4 KiB each.
const (
	smallBufSize = 256
	smallBufMax  = 1 << 10
)

var smallPools [2]sync.Pool // smallBufSize, smallBufMax

// getSmallBuffer returns a buffer of at least n bytes, for n up to
// smallBufMax; its contents are stale.
func getSmallBuffer(n int) *buffer {
	i, size := 0, smallBufSize
	if n > smallBufSize {
		i, size = 1, smallBufMax
	}
	if v := smallPools[i].Get(); v != nil {
		return v.(*buffer)
	}
	return &buffer{b: make([]byte, size)}
}

// putBuffer returns b to its pool. b must not be used afterwards.
func putBuffer(b *buffer) {
	c := cap(b.b)
	switch c {
	case smallBufSize:
		b.b = b.b[:c]
		smallPools[0].Put(b)
		return
	case smallBufMax:
		b.b = b.b[:c]
		smallPools[1].Put(b)
		return
	}
	class := sizeClass(c)
	if class < 0 || c != 1<<(class+minBufShift) {
		return // not one of ours: let the GC have it
	}
	b.b = b.b[:c]
	bufPools[class].Put(b)
}
