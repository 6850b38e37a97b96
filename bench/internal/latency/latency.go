// Package latency summarises the samples of sockplane's bench tools, the
// same way in each, so their figures compare.
package latency

import (
	"slices"
	"time"
)

// Summary is a latency distribution in microseconds.
type Summary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50Micros"`
	P90  float64 `json:"p90Micros"`
	P99  float64 `json:"p99Micros"`
	Max  float64 `json:"maxMicros"`
	Mean float64 `json:"meanMicros"`
}

// Summarise sorts a copy of d and reads its quantiles (nearest rank).
func Summarise(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return Micros(s[min(max(i, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return Summary{N: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: Micros(s[len(s)-1]), Mean: Micros(sum / time.Duration(len(s)))}
}

// Median of v; 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Micros is d in microseconds.
func Micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Millis is d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
