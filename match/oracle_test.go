package match

import (
	"bytes"
	"encoding/json"
)

// matchHeaderStd is matchHeader the plain way, with encoding/json: the
// tests and the fuzzer check matchHeader against it.
func matchHeaderStd(header []byte, conds []headerCond) bool {
	if header == nil {
		return false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(header, &fields); err != nil {
		return false
	}
	for _, c := range conds {
		raw, ok := fields[c.name]
		if !ok {
			return false
		}
		var s string
		if raw[0] == '"' {
			if json.Unmarshal(raw, &s) != nil || s != c.value {
				return false
			}
			continue
		}
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil || buf.String() != c.value {
			return false
		}
	}
	return true
}
