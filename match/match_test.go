package match

import (
	"errors"
	"testing"

	"github.com/sockplane/sockplane/rawsock"
)

func ptr(s string) *string { return &s }

func TestMatchBody(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		body string
		want bool
	}{
		{"zero spec matches anything", Spec{}, "whatever", true},
		{"zero spec matches empty", Spec{}, "", true},
		{"equals", Spec{BodyEquals: ptr("bye")}, "bye", true},
		{"equals longer", Spec{BodyEquals: ptr("bye")}, "bye!", false},
		{"equals shorter", Spec{BodyEquals: ptr("bye")}, "by", false},
		{"equals empty matches empty", Spec{BodyEquals: ptr("")}, "", true},
		{"equals empty refuses text", Spec{BodyEquals: ptr("")}, "x", false},
		{"prefix", Spec{BodyPrefix: "GET "}, "GET /a", true},
		{"prefix exact", Spec{BodyPrefix: "GET "}, "GET ", true},
		{"prefix miss", Spec{BodyPrefix: "GET "}, "PUT /a", false},
		{"prefix longer than body", Spec{BodyPrefix: "GET "}, "GE", false},
		{"contains", Spec{BodyContains: "boom"}, "ka-boom!", true},
		{"contains miss", Spec{BodyContains: "boom"}, "bom", false},
		{"regex", Spec{BodyRegex: `^ping [0-9]+$`}, "ping 42", true},
		{"regex miss", Spec{BodyRegex: `^ping [0-9]+$`}, "ping x", false},
		{"regex unanchored", Spec{BodyRegex: `[0-9]+`}, "abc 7 def", true},
		{"regex on non-UTF-8 bytes", Spec{BodyRegex: `^\xff`}, "\xff\x00", false}, // RE2 reads \xff as U+00FF
		{"base64", Spec{BodyBase64: "AAEC"}, "\x00\x01\x02", true},
		{"base64 miss", Spec{BodyBase64: "AAEC"}, "\x00\x01", false},
		{"base64 padded", Spec{BodyBase64: "aGk="}, "hi", true},
		{"base64 unpadded", Spec{BodyBase64: "aGk"}, "hi", true},
		{"all of them", Spec{BodyPrefix: "GET ", BodyContains: "/a", BodyRegex: `b$`}, "GET /ab", true},
		{"all but one", Spec{BodyPrefix: "GET ", BodyContains: "/a", BodyRegex: `c$`}, "GET /ab", false},
		{"equals and base64 agree", Spec{BodyEquals: ptr("hi"), BodyBase64: "aGk="}, "hi", true},
		{"equals and base64 disagree", Spec{BodyEquals: ptr("ho"), BodyBase64: "aGk="}, "hi", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.spec)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := m.Match(nil, []byte(tt.body)); got != tt.want {
				t.Errorf("Match(nil, %q) = %v, want %v", tt.body, got, tt.want)
			}
		})
	}
}

func TestNilMatcherMatchesAll(t *testing.T) {
	var m *Matcher
	if !m.Match(nil, nil) || !m.Match([]byte(`{}`), []byte("x")) {
		t.Error("a nil *Matcher refused a frame")
	}
}

func TestMatchHeader(t *testing.T) {
	const h = `{"data_size": 5, "cmd": "get", "n": 5, "f": 1.50, "ok": true, "no": false, "x": null,` +
		` "esc": "a\"b\u00e9", "obj": {"a": 1, "b": [1, 2]}, "arr": [ 1 , "two" ], "empty": ""}`
	tests := []struct {
		name   string
		cond   map[string]string
		header string // "<nil>" for none
		want   bool
	}{
		{"string", map[string]string{"cmd": "get"}, h, true},
		{"string miss", map[string]string{"cmd": "put"}, h, false},
		{"string is not its JSON text", map[string]string{"cmd": `"get"`}, h, false},
		{"empty string", map[string]string{"empty": ""}, h, true},
		{"escaped string", map[string]string{"esc": `a"bé`}, h, true},
		{"number", map[string]string{"n": "5"}, h, true},
		{"number is text", map[string]string{"n": "5.0"}, h, false},
		{"number as written", map[string]string{"f": "1.50"}, h, true},
		{"number not renormalised", map[string]string{"f": "1.5"}, h, false},
		{"data_size", map[string]string{"data_size": "5"}, h, true},
		{"true", map[string]string{"ok": "true"}, h, true},
		{"false", map[string]string{"no": "false"}, h, true},
		{"bool miss", map[string]string{"ok": "false"}, h, false},
		{"null", map[string]string{"x": "null"}, h, true},
		{"null is not empty", map[string]string{"x": ""}, h, false},
		{"object compact", map[string]string{"obj": `{"a":1,"b":[1,2]}`}, h, true},
		{"object with spaces", map[string]string{"obj": `{"a": 1, "b": [1, 2]}`}, h, false},
		{"array compact", map[string]string{"arr": `[1,"two"]`}, h, true},
		{"missing field", map[string]string{"nope": ""}, h, false},
		{"several fields", map[string]string{"cmd": "get", "n": "5", "ok": "true"}, h, true},
		{"several, one wrong", map[string]string{"cmd": "get", "n": "6", "ok": "true"}, h, false},
		{"nil header", map[string]string{"cmd": "get"}, "<nil>", false},
		{"empty header", map[string]string{"cmd": "get"}, "", false},
		{"malformed header", map[string]string{"cmd": "get"}, `{"cmd": "get"`, false},
		{"trailing garbage", map[string]string{"cmd": "get"}, `{"cmd": "get"} x`, false},
		{"not an object", map[string]string{"cmd": "get"}, `["cmd", "get"]`, false},
		{"null header", map[string]string{"cmd": "get"}, `null`, false},
		{"nested field is not top-level", map[string]string{"a": "1"}, h, false},
		{"duplicate key: last wins", map[string]string{"cmd": "b"}, `{"cmd": "a", "cmd": "b"}`, true},
		{"empty condition ignores nil header", map[string]string{}, "<nil>", true},
		{"empty object", map[string]string{"a": ""}, `{}`, false},
		{"spaces everywhere", map[string]string{"a": "[1,{}]", "b": "2"}, " \t\r\n{ \"a\" : [ 1 , { } ] , \"b\" :2 } \n", true},
		{"escaped key", map[string]string{"cmd": "get"}, `{"c\u006dd": "get"}`, true},
		{"key with a quote", map[string]string{`a"b`: "1"}, `{"a\"b": 1}`, true},
		{"invalid UTF-8 in value", map[string]string{"a": "\ufffd"}, "{\"a\": \"\xff\"}", true},
		{"invalid UTF-8 in value is not its bytes", map[string]string{"a": "\xff"}, "{\"a\": \"\xff\"}", false},
		{"braces inside a nested string", map[string]string{"o": `{"s":"} ]"}`, "n": "1"}, `{"o": {"s": "} ]"}, "n": 1}`, true},
		{"escaped quote inside a nested string", map[string]string{"o": `["a\" b"]`}, `{"o": ["a\" b"]}`, true},
		{"spaces in a nested string are kept", map[string]string{"o": `["a b"]`}, `{"o": [ "a b" ]}`, true},
		{"negative exponent number", map[string]string{"n": "-1.5e-3"}, `{"n": -1.5e-3}`, true},
		{"case matters", map[string]string{"CMD": "get"}, `{"cmd": "get"}`, false},
		{"many conditions", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "10"},
			`{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10}`, true},
		{"many conditions, one missing", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "10"},
			`{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(Spec{Header: tt.cond})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			var header []byte
			if tt.header != "<nil>" {
				header = []byte(tt.header)
			}
			if got := m.Match(header, []byte("body")); got != tt.want {
				t.Errorf("Match(%q) with %v = %v, want %v", tt.header, tt.cond, got, tt.want)
			}
			if got := matchHeaderStd(header, m.header); len(m.header) > 0 && got != tt.want {
				t.Errorf("the encoding/json oracle says %v, want %v: fix the test", got, tt.want)
			}
		})
	}
}

func TestMatchHeaderAndBody(t *testing.T) {
	m, err := Compile(Spec{BodyPrefix: "GET", Header: map[string]string{"cmd": "get"}})
	if err != nil {
		t.Fatal(err)
	}
	hdr := []byte(`{"data_size": 4, "cmd": "get"}`)
	for _, tt := range []struct {
		header, body string
		want         bool
	}{
		{string(hdr), "GET ", true},
		{string(hdr), "PUT ", false},
		{`{"data_size": 4, "cmd": "put"}`, "GET ", false},
	} {
		if got := m.Match([]byte(tt.header), []byte(tt.body)); got != tt.want {
			t.Errorf("Match(%s, %q) = %v, want %v", tt.header, tt.body, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		spec  Spec
		field string
	}{
		{"bad regex", Spec{BodyRegex: `(`}, "bodyRegex"},
		{"perl lookahead", Spec{BodyRegex: `a(?=b)`}, "bodyRegex"},
		{"bad base64 chars", Spec{BodyBase64: "!!!"}, "bodyBase64"},
		{"bad base64 length", Spec{BodyBase64: "A"}, "bodyBase64"},
		{"url alphabet", Spec{BodyBase64: "-_8="}, "bodyBase64"},
		{"first error of several", Spec{BodyBase64: "!", BodyRegex: "("}, "bodyBase64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.spec)
			var fe *rawsock.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%+v) = %v, %v; want a *rawsock.FieldError", tt.spec, m, err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if fe.Reason == "" {
				t.Error("empty Reason")
			}
		})
	}
}

func TestIsZero(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want bool
	}{
		{Spec{}, true},
		{Spec{Header: map[string]string{}}, true},
		{Spec{BodyEquals: ptr("")}, false},
		{Spec{BodyPrefix: "a"}, false},
		{Spec{BodyContains: "a"}, false},
		{Spec{BodyRegex: "a"}, false},
		{Spec{BodyBase64: "AA=="}, false},
		{Spec{Header: map[string]string{"a": ""}}, false},
	} {
		if got := tt.spec.IsZero(); got != tt.want {
			t.Errorf("%+v.IsZero() = %v, want %v", tt.spec, got, tt.want)
		}
	}
}

func TestCloneAndEqual(t *testing.T) {
	s := Spec{BodyEquals: ptr("a"), BodyPrefix: "b", BodyContains: "c", BodyRegex: "d", BodyBase64: "AA==",
		Header: map[string]string{"k": "v"}}
	c := s.Clone()
	if !Equal(s, c) {
		t.Fatalf("Clone() = %+v, not Equal to %+v", c, s)
	}
	*c.BodyEquals = "changed"
	c.Header["k"] = "changed"
	if *s.BodyEquals != "a" || s.Header["k"] != "v" {
		t.Errorf("changing the clone changed the original: %+v", s)
	}
	if Equal(s, c) {
		t.Error("Equal after changing the clone")
	}
	if got := (Spec{}).Clone(); !Equal(got, Spec{}) || got.BodyEquals != nil || got.Header != nil {
		t.Errorf("Spec{}.Clone() = %+v", got)
	}

	for _, tt := range []struct {
		name string
		a, b Spec
		want bool
	}{
		{"zero", Spec{}, Spec{}, true},
		{"nil and empty header", Spec{}, Spec{Header: map[string]string{}}, true},
		{"nil and empty bodyEquals", Spec{}, Spec{BodyEquals: ptr("")}, false},
		{"same bodyEquals", Spec{BodyEquals: ptr("x")}, Spec{BodyEquals: ptr("x")}, true},
		{"prefix", Spec{BodyPrefix: "a"}, Spec{BodyPrefix: "b"}, false},
		{"contains", Spec{BodyContains: "a"}, Spec{}, false},
		{"regex", Spec{BodyRegex: "a"}, Spec{}, false},
		{"base64", Spec{BodyBase64: "AA=="}, Spec{BodyBase64: "AA"}, false},
		{"header value", Spec{Header: map[string]string{"a": "1"}}, Spec{Header: map[string]string{"a": "2"}}, false},
		{"header key", Spec{Header: map[string]string{"a": "1"}}, Spec{Header: map[string]string{"b": "1"}}, false},
	} {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
		if got := Equal(tt.b, tt.a); got != tt.want {
			t.Errorf("%s: Equal (swapped) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The body conditions are on the engine's hot path: they must not
// allocate per frame.
func TestMatchBodyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	specs := map[string]Spec{
		"equals":          {BodyEquals: ptr("GET /index.html")},
		"base64":          {BodyBase64: "R0VU"},
		"prefix":          {BodyPrefix: "GET "},
		"contains":        {BodyContains: "index"},
		"regex":           {BodyRegex: `^GET /[a-z]+\.html$`},
		"backtrack regex": {BodyRegex: `(a|b)*c(x|y)`},
		"all":             {BodyPrefix: "GET ", BodyContains: "index", BodyRegex: `html$`},
	}
	body := []byte("GET /index.html")
	for name, s := range specs {
		m, err := Compile(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		allocs := testing.AllocsPerRun(1000, func() { m.Match(nil, body) })
		if allocs != 0 {
			t.Errorf("%s: Match allocates %v times per call, want 0", name, allocs)
		}
	}
}

// A header condition walks the header in place: no allocation unless a
// key or value has escapes to decode.
func TestMatchHeaderDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	m, err := Compile(Spec{Header: map[string]string{"cmd": "get", "n": "5", "o": `{"a":[1,2]}`}})
	if err != nil {
		t.Fatal(err)
	}
	header := []byte(`{"data_size": 64, "cmd": "get", "n": 5, "o": {"a": [1, 2]}, "id": "b5c1e0f2"}`)
	if !m.Match(header, nil) {
		t.Fatal("no match")
	}
	if allocs := testing.AllocsPerRun(1000, func() { m.Match(header, nil) }); allocs != 0 {
		t.Errorf("Match allocates %v times per call, want 0", allocs)
	}
}
