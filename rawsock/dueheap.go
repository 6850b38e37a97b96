package rawsock

// heapPush and heapPop keep *h a min-heap under before: the held-reply
// writer's due times and Timers' functions.
func heapPush[T any](h *[]T, x T, before func(a, b T) bool) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !before(s[i], s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func heapPop[T any](h *[]T, before func(a, b T) bool) T {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	var zero T
	s[last] = zero
	s = s[:last]
	*h = s
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < last && before(s[l], s[least]) {
			least = l
		}
		if r < last && before(s[r], s[least]) {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	return top
}
