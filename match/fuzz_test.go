package match

import (
	"bytes"
	"testing"
)

// FuzzMatch feeds arbitrary headers and bodies, and a header condition
// of arbitrary name and value, to matchers of every kind: none may panic,
// the body conditions must agree with the bytes package, and the header
// conditions with the encoding/json oracle.
func FuzzMatch(f *testing.F) {
	f.Add([]byte(`{"data_size": 5, "cmd": "get", "n": 5}`), []byte("GET /"), "cmd", "get")
	f.Add([]byte(`{"ok": true, "x": null, "o": {"a": [1, 2]}}`), []byte("ping 1"), "o", `{"a":[1,2]}`)
	f.Add([]byte(`{"cmd": "g\u0065t", "n": "5"}`), []byte("\xff\xfe"), "n", "5")
	f.Add([]byte(`{"cmd": "get"`), []byte(""), "cmd", "get")
	f.Add([]byte(nil), []byte("boom"), "x", "")
	f.Add([]byte(`{"cmd": "\xff", "c\u006dd": "x"}`), []byte("\x00\x01\x02"), "cmd", "x")
	f.Add([]byte(` [ {"a": 1} ] `), []byte("GET "), "a", "1")
	f.Add([]byte(`{"s": "a \"} b", "t": [ "x" , {"y" : null} ]}`), []byte("oo"), "t", `["x",{"y":null}]`)

	compile := func(s Spec) *Matcher {
		m, err := Compile(s)
		if err != nil {
			f.Fatal(err)
		}
		return m
	}
	headers := []*Matcher{
		compile(Spec{Header: map[string]string{"cmd": "get", "n": "5"}}),
		compile(Spec{Header: map[string]string{"o": `{"a":[1,2]}`, "ok": "true", "x": "null"}}),
		compile(Spec{Header: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9"}}),
	}
	prefix := compile(Spec{BodyPrefix: "GET "})
	contains := compile(Spec{BodyContains: "oo"})
	raw := compile(Spec{BodyBase64: "AAEC"})
	regex := compile(Spec{BodyRegex: `^ping [0-9]+$`})
	all := compile(Spec{BodyPrefix: "p", BodyContains: "i", BodyRegex: "g", Header: map[string]string{"cmd": "get"}})

	f.Fuzz(func(t *testing.T, h, body []byte, name, value string) {
		regex.Match(h, body)
		all.Match(h, body)
		fuzzed, err := Compile(Spec{Header: map[string]string{name: value}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range append(headers, fuzzed) {
			if got, want := m.Match(h, body), matchHeaderStd(h, m.header); got != want {
				t.Errorf("Match(%q) with %v = %v, encoding/json says %v", h, m.header, got, want)
			}
		}
		if got, want := prefix.Match(h, body), bytes.HasPrefix(body, []byte("GET ")); got != want {
			t.Errorf("prefix.Match(%q) = %v, want %v", body, got, want)
		}
		if got, want := contains.Match(h, body), bytes.Contains(body, []byte("oo")); got != want {
			t.Errorf("contains.Match(%q) = %v, want %v", body, got, want)
		}
		if got, want := raw.Match(h, body), bytes.Equal(body, []byte{0, 1, 2}); got != want {
			t.Errorf("bodyBase64 Match(%q) = %v, want %v", body, got, want)
		}
	})
}
