//go:build race

package match

// raceEnabled is set under the race detector, which makes sync.Pool drop
// objects at random: code that pools (regexp, encoding/json) allocates
// then, so allocation counts mean nothing.
const raceEnabled = true
