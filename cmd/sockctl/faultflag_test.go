package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// faultOf decodes the protojson of a Fault, for the expectations.
func faultOf(tb testing.TB, js string) *sockplanev1.Fault {
	tb.Helper()
	f := &sockplanev1.Fault{}
	if err := protojson.Unmarshal([]byte(js), f); err != nil {
		tb.Fatalf("bad expectation %s: %v", js, err)
	}
	return f
}

// TestParseFault: each kind, each option and the common keys become the
// Fault of the API.
func TestParseFault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"latency=200ms,jitter=20ms", `{"latency": {"delay": "0.200s", "jitter": "0.020s"}}`},
		{"latency=0", `{"latency": {"delay": "0s"}}`},
		{"bandwidth=1024", `{"bandwidth": {"bytesPerSecond": 1024}}`},
		{"slicer=8,variation=2,delay=1ms", `{"slicer": {"averageBytes": 8, "variationBytes": 2, "delay": "0.001s"}}`},
		{"slicer=8", `{"slicer": {"averageBytes": 8}}`},
		{"timeout=0s", `{"timeout": {"after": "0s"}}`},
		{"timeout", `{"timeout": {}}`},
		{"timeout=5s", `{"timeout": {"after": "5s"}}`},
		{"resetPeer=100ms", `{"resetPeer": {"after": "0.100s"}}`},
		{"reset-peer=100ms", `{"resetPeer": {"after": "0.100s"}}`},
		{"reset_peer", `{"resetPeer": {}}`},
		{"slowClose=1s", `{"slowClose": {"delay": "1s"}}`},
		{"slow-close=1s", `{"slowClose": {"delay": "1s"}}`},
		{"limitData=1000", `{"limitData": {"bytes": "1000"}}`},
		{"limit-data=1000", `{"limitData": {"bytes": "1000"}}`},
		{"drop", `{"drop": {}}`},
		{"duplicate", `{"duplicate": {}}`},
		{"drop,probability=0", `{"drop": {}, "probability": 0}`},
		{"Drop, probability=0.5 ,direction=in,name=lossy", `{"drop": {}, "probability": 0.5, "direction": "DIRECTION_IN", "name": "lossy"}`},
		{"direction=OUT,duplicate", `{"duplicate": {}, "direction": "DIRECTION_OUT"}`}, // the kind may come anywhere
		{"latency=1s,match.bodyPrefix=slow", `{"latency": {"delay": "1s"}, "match": {"bodyPrefix": "slow"}}`},
		{"drop,match.bodyEquals=,match.body_contains=x,match.body-regex=^a$,match.bodyBase64=AAE=",
			`{"drop": {}, "match": {"bodyEquals": "", "bodyContains": "x", "bodyRegex": "^a$", "bodyBase64": "AAE="}}`},
		{"drop,match.header.Cmd=get,match.header.n=5", `{"drop": {}, "match": {"header": {"Cmd": "get", "n": "5"}}}`},
		// A quoted value may hold commas and quotes.
		{`latency=1s,match.bodyRegex="^a{1,3}$",name="a \"b\""`, `{"latency": {"delay": "1s"}, "name": "a \"b\"", "match": {"bodyRegex": "^a{1,3}$"}}`},
	} {
		got, err := parseFault(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if want := faultOf(t, tc.want); !proto.Equal(got, want) {
			t.Errorf("%q:\n got %v\nwant %v", tc.spec, got, want)
		}
	}
}

// TestParseFaultErrors: a bad spec says which key is wrong, and how.
func TestParseFaultErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"latency=200ms,jiter=20ms", []string{`unknown key "jiter"`, "latency takes jitter", "probability"}},
		{"drop,jitter=1ms", []string{`unknown key "jitter"`, "every fault takes name, probability, direction"}},
		{"drop,match.bodyStarts=x", []string{`unknown key "match.bodyStarts"`, "bodyPrefix"}},
		{"lag=1s", []string{"no kind of fault", "latency=D"}},
		{"probability=0.5", []string{"no kind of fault"}},
		{"latency=1s,drop", []string{"two kinds, latency and drop"}},
		{"latency", []string{"latency needs a duration"}},
		{"latency=fast", []string{"latency=fast", "want a duration"}},
		{"latency=-1s", []string{"latency=-1s", "not negative"}},
		{"latency=1s,jitter=x", []string{"jitter=x", "want a duration"}},
		{"bandwidth=0", []string{"bandwidth=0", "at least 1"}},
		{"bandwidth=1k", []string{"bandwidth=1k", "whole number"}},
		{"bandwidth=5000000000", []string{"bandwidth=5000000000", "out of range"}},
		{"slicer=8,variation=-1", []string{"variation=-1"}},
		{"limitData=", []string{"limitData needs a number of bytes"}},
		{"drop=1", []string{"drop takes no value"}},
		{"drop,probability=2", []string{"probability=2", "from 0 to 1"}},
		{"drop,probability=half", []string{"probability=half", "from 0 to 1"}},
		{"drop,direction=up", []string{"direction=up", "in, out"}},
		{"drop,name", []string{`key "name" needs a value`}},
		{"drop,name=a,name=b", []string{`key "name" given twice`}},
		{"drop,,name=a", []string{"an empty key"}},
		{`drop,name="a`, []string{`key "name": a quoted value without its end`}},
		{`drop,name="a"b`, []string{`key "name": a comma must follow a quoted value`}},
	} {
		_, err := parseFaults([]string{tc.spec})
		if err == nil {
			t.Errorf("%q: no error", tc.spec)
			continue
		}
		if !strings.HasPrefix(err.Error(), `--fault "`) {
			t.Errorf("%q: error %q does not name --fault", tc.spec, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", tc.spec, err, w)
			}
		}
	}
}

func TestReadScriptFile(t *testing.T) {
	t.Parallel()
	want := &sockplanev1.Script{}
	if err := protojson.Unmarshal([]byte(`{"greeting": {"body": "220 ready"},
		"rules": [{"match": {"bodyPrefix": "GET "}, "reply": {"body": "OK", "delay": "0.050s"}},
		          {"match": {"bodyEquals": "bye"}, "reply": {"body": "BYE", "then": "THEN_CLOSE"}}],
		"default": {"echo": true}}`), want); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"script.json": `{"greeting": {"body": "220 ready"},
			"rules": [{"match": {"bodyPrefix": "GET "}, "reply": {"body": "OK", "delay": "50ms"}},
			          {"match": {"body_equals": "bye"}, "reply": {"body": "BYE", "then": "THEN_CLOSE"}}],
			"default": {"echo": true}}`,
		"script.yaml": `# a line protocol
greeting: {body: "220 ready"}
rules:
  - match: {bodyPrefix: "GET "}
    reply: {body: OK, delay: 50ms}
  - match: {bodyEquals: bye}
    reply: {body: BYE, then: THEN_CLOSE}
default: {echo: true}
`,
	} {
		got, err := readScriptFile(writeFile(t, name, content))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want)
		}
	}
	for content, wantErr := range map[string]string{
		`{"rules": [{"reply": {"delay": "soon"}}]}`: "rules[0].reply.delay",
		`{"rule": []}`:      `unknown field "rule"`,
		`[1, 2]`:            "want a script object",
		"a: 1\n---\nb: 2\n": "several YAML documents",
	} {
		file := writeFile(t, "bad.json", content)
		_, err := readScriptFile(file)
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), "--script "+file) {
			t.Errorf("%s: %v, want an error naming --script %s and saying %q", content, err, file, wantErr)
		}
	}
	if _, err := readScriptFile("/nonexistent/script.json"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParseFault: any SPEC gives a fault with exactly one kind, or an
// error that names --fault; never a panic.
func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"latency=200ms,jitter=20ms", "slicer=8,variation=2,delay=1ms", "drop,probability=0",
		`latency=1s,match.bodyRegex="^a{1,3}$"`, "reset-peer", "duplicate,match.header.k=v,direction=in", `drop,name="a`, ",,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		faults, err := parseFaults([]string{spec})
		switch {
		case err != nil:
			if !strings.HasPrefix(err.Error(), "--fault ") {
				t.Errorf("%q: error %q does not name --fault", spec, err)
			}
		case strings.TrimSpace(spec) == "":
			if len(faults) != 0 {
				t.Errorf("%q: %v, want no fault", spec, faults)
			}
		case len(faults) != 1 || faults[0].GetKind() == nil:
			t.Errorf("%q: %v, want one fault with a kind", spec, faults)
		}
	})
}
