package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/jsondur"
)

// specOnly is l without the fields get -o yaml leaves out.
func specOnly(l *sockplanev1.Listener) *sockplanev1.Listener {
	l = proto.CloneOf(l)
	l.Etag, l.Status, l.Ttl = "", nil, nil
	return l
}

// specYAMLListeners are goldenListeners with the fields of issue 10 on
// the first: labels and expiry kept, ttl and etag left out.
func specYAMLListeners() []*sockplanev1.Listener {
	ls := goldenListeners()
	ls[0].Labels = map[string]string{"env": "ci", "example.com/team": "web", "flag": "yes", "n": "1"}
	ls[0].Etag = "abc-3"
	ls[0].Ttl = durationpb.New(time.Minute)
	ls[0].ExpireTime = timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	ls[0].Limits = &sockplanev1.Limits{
		MaxConnections: 1024, MaxHeaderBytes: 16384, MaxBodyBytes: 4194304,
		HeaderTimeout: durationpb.New(10 * time.Second), IdleTimeout: durationpb.New(0),
	}
	ls[0].Capture = &sockplanev1.CaptureOptions{MaxFrames: 1000, MaxBytesPerFrame: 4096}
	return ls
}

// TestSpecYAMLGolden: -o yaml is the spec fields, sorted, with the
// strings YAML would misread quoted; and apply reads back what it wrote.
func TestSpecYAMLGolden(t *testing.T) {
	t.Parallel()
	ls := specYAMLListeners()
	var b strings.Builder
	p := printer{w: &b, format: outputYAML}
	if err := p.listeners(ls[0]); err != nil {
		t.Fatal(err)
	}
	one := b.String()
	b.WriteString("--- list\n")
	if err := p.list(&sockplanev1.ListListenersResponse{Listeners: ls}); err != nil {
		t.Fatal(err)
	}
	list := strings.TrimPrefix(b.String(), one+"--- list\n")
	b.WriteString("--- empty list\n")
	if err := p.list(&sockplanev1.ListListenersResponse{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "spec_yaml.golden", b.String())

	for _, tc := range []struct {
		what, yaml string
		want       []*sockplanev1.Listener
	}{
		{"get -o yaml", one, ls[:1]},
		{"list -o yaml", list, ls},
	} {
		got, errs := readSpecFile("f.yaml", []byte(tc.yaml))
		if len(errs) > 0 {
			t.Errorf("%s: read back: %v", tc.what, errors.Join(errs...))
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: read back %d listeners, want %d", tc.what, len(got), len(tc.want))
			continue
		}
		for i, fl := range got {
			if want := specOnly(tc.want[i]); !proto.Equal(fl.l, want) {
				t.Errorf("%s: listener %d read back as\n%v\nwant\n%v", tc.what, i, fl.l, want)
			}
		}
	}
}

// pathsOf lists the mask paths of the listeners a file states.
func pathsOf(ls []fileListener) string {
	var b strings.Builder
	for _, fl := range ls {
		var paths []string
		for _, p := range fl.paths {
			paths = append(paths, p.String())
		}
		b.WriteString(fl.l.GetId() + ": " + strings.Join(paths, ",") + "\n")
	}
	return b.String()
}

// TestReadSpecFileForms: a list, {"listeners": [...]} and one listener,
// in YAML or JSON, lowerCamelCase or proto names, are the same file.
func TestReadSpecFileForms(t *testing.T) {
	t.Parallel()
	const wantPaths = "web: transport,handler,framing.request,framing.byte_order,labels,expire_time\n" +
		"dgram: address,limits.max_body_bytes,limits.idle_timeout\n"
	want := []*sockplanev1.Listener{
		{
			Id: "web", Transport: sockplanev1.Transport_TRANSPORT_TCP, Handler: sockplanev1.Handler_HANDLER_UPPER,
			Framing:    &sockplanev1.FramingConfig{Request: sockplanev1.Framing_FRAMING_RAW, ByteOrder: sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN},
			Labels:     map[string]string{"env": "ci"},
			Ttl:        durationpb.New(30 * time.Second),
			ExpireTime: timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		},
		{
			Id: "dgram", Address: "127.0.0.1:0", Framing: &sockplanev1.FramingConfig{},
			Limits: &sockplanev1.Limits{MaxBodyBytes: 512, IdleTimeout: durationpb.New(90 * time.Second)},
		},
	}
	yamlList := `# two listeners
- id: web
  transport: TRANSPORT_TCP
  handler: HANDLER_UPPER
  framing: {request: FRAMING_RAW, byteOrder: BYTE_ORDER_BIG_ENDIAN}
  labels:
    env: ci
  ttl: 30s
  expireTime: "2030-01-01T00:00:00Z"
  etag: ignored
  status: {state: STATE_RUNNING}
- id: dgram
  address: 127.0.0.1:0
  handler: null
  framing: {}
  limits:
    maxBodyBytes: 512
    idleTimeout: 90s
    headerTimeout: null
`
	jsonWrapped := `{"listeners": [
  {"id": "web", "transport": "TRANSPORT_TCP", "handler": "HANDLER_UPPER",
   "framing": {"request": "FRAMING_RAW", "byte_order": "BYTE_ORDER_BIG_ENDIAN"},
   "labels": {"env": "ci"}, "ttl": "30s", "expire_time": "2030-01-01T00:00:00Z"},
  {"id": "dgram", "address": "127.0.0.1:0", "framing": {}, "limits": {"max_body_bytes": 512, "idle_timeout": "90.000s"}}
], "nextPageToken": ""}`
	yamlWrapped := "listeners:\n" + indent(yamlList, "  ")
	jsonList := jsonWrapped[strings.Index(jsonWrapped, "[") : strings.LastIndex(jsonWrapped, "]")+1]
	for _, tc := range []struct{ what, file string }{
		{"yaml list", yamlList},
		{"yaml listeners:", yamlWrapped},
		{"json list", jsonList},
		{"json {listeners}", jsonWrapped},
	} {
		got, errs := readSpecFile("f", []byte(tc.file))
		if len(errs) > 0 {
			t.Errorf("%s: %v", tc.what, errors.Join(errs...))
			continue
		}
		if p := pathsOf(got); p != wantPaths {
			t.Errorf("%s: paths\n%s\nwant\n%s", tc.what, p, wantPaths)
		}
		for i, fl := range got {
			if !proto.Equal(specOnly(fl.l), specOnly(want[i])) || !proto.Equal(fl.l.GetTtl(), want[i].GetTtl()) {
				t.Errorf("%s: listener %d:\n got %v\nwant %v", tc.what, i, fl.l, want[i])
			}
		}
	}

	// One listener, YAML (with or without a document start) or JSON.
	for _, file := range []string{"id: one\nhandler: HANDLER_DISCARD\n", "# one\n---\nid: one\nhandler: HANDLER_DISCARD\n---\n# the end\n", `{"id": "one", "handler": "HANDLER_DISCARD"}`} {
		got, errs := readSpecFile("f", []byte(file))
		if len(errs) > 0 || pathsOf(got) != "one: handler\n" {
			t.Errorf("%q: %s %v", file, pathsOf(got), errors.Join(errs...))
		}
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// TestReadSpecFileErrors: an error names the file and, for a listener,
// its index and id; the other listeners are still read.
func TestReadSpecFileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		what, file string
		ok         string // the ids read
		errs       []string
	}{
		{"listeners", `
- {handler: HANDLER_UPPER}
- {id: good, handler: HANDLER_UPPER}
- {id: colour, colour: red}
- {id: good, handler: HANDLER_ECHO}
- {id: enum, handler: HANDLER_SHOUT}
- {id: mode, unixMode: 0660}
- 42
- {id: sub, limits: {maxConns: 1}}
- {id: also-good}
`, "good also-good", []string{
			"f.yaml: listeners[0]: no id",
			`f.yaml: listeners[2] (colour): `, `"colour"`,
			"f.yaml: listeners[3] (good): id given again: listeners[1] has it",
			"f.yaml: listeners[4] (enum): ", "HANDLER_SHOUT",
			"f.yaml: listeners[5] (mode): ", "unixMode",
			"f.yaml: listeners[6]: want a listener object",
			"f.yaml: listeners[7] (sub): ", "maxConns",
		}},
		{"empty", "", "", []string{"f.yaml: want a listener, a list of listeners"}},
		{"comment", "# nothing\n", "", []string{"f.yaml: want a listener, a list of listeners"}},
		{"scalar", "web\n", "", []string{"f.yaml: want a listener, a list of listeners"}},
		{"empty list", "[]", "", []string{"f.yaml: no listeners"}},
		{"documents", "---\nid: a\n---\nid: b\n", "", []string{"f.yaml: several YAML documents"}},
		{"not yaml", "- id: a\n b: [\n", "", []string{"f.yaml: neither JSON nor YAML"}},
		{"beside listeners", `{"listeners": [{"id": "a"}], "kind": "List"}`, "", []string{`f.yaml: unknown field "kind" beside "listeners"`}},
		{"listeners not a list", `{"listeners": {"id": "a"}}`, "", []string{"f.yaml: listeners: want a list"}},
	} {
		ls, errs := readSpecFile("f.yaml", []byte(tc.file))
		var ids []string
		for _, fl := range ls {
			ids = append(ids, fl.l.GetId())
		}
		if strings.Join(ids, " ") != tc.ok {
			t.Errorf("%s: read %q, want %q", tc.what, ids, tc.ok)
		}
		msg := errors.Join(errs...)
		if msg == nil {
			t.Errorf("%s: no error", tc.what)
			continue
		}
		for _, w := range tc.errs {
			if !strings.Contains(msg.Error(), w) {
				t.Errorf("%s: errors\n%v\ndo not say %q", tc.what, msg, w)
			}
		}
	}
}

// TestSameAt: fields compare as protojson writes them.
func TestSameAt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, current string
		same          bool
	}{
		{`{"id": "a", "limits": {"idleTimeout": "300s"}}`, `{"limits": {"idleTimeout": "300.000s", "maxConnections": 1024}}`, true},
		{`{"id": "a", "limits": {"maxConnections": 1024}}`, `{"limits": {"idleTimeout": "300s", "maxConnections": 1024}}`, true},
		{`{"id": "a", "limits": {"maxConnections": 10}}`, `{"limits": {"maxConnections": 1024}}`, false},
		{`{"id": "a", "limits": {"allowLargerDatagramReplies": false}}`, `{}`, true},
		{`{"id": "a", "labels": {}}`, `{}`, true},
		{`{"id": "a", "labels": {"a": "b"}}`, `{"labels": {"a": "b", "c": "d"}}`, false},
		{`{"id": "a", "handler": "HANDLER_ECHO"}`, `{"handler": "HANDLER_ECHO", "address": "x"}`, true},
		{`{"id": "a", "exec": {"allow": ["date", "uname"]}}`, `{"exec": {"allow": ["uname", "date"]}}`, false},
		{`{"id": "a", "expireTime": "2030-01-01T00:00:00.000Z"}`, `{"expireTime": "2030-01-01T00:00:00Z"}`, true},
		// The daemon reads a mode in any octal spelling and shows four digits.
		{`{"id": "a", "unixMode": "660"}`, `{"unixMode": "0660"}`, true},
		{`{"id": "a", "unixMode": "00660"}`, `{"unixMode": "0660"}`, true},
		{`{"id": "a", "unixMode": "0640"}`, `{"unixMode": "0660"}`, false},
		{`{"id": "a", "unixMode": "rw-rw----"}`, `{"unixMode": "0660"}`, false},
		{`{"id": "a", "unixMode": "0o660"}`, `{"unixMode": "0660"}`, false}, // the daemon refuses it
		// Go durations are the daemon's seconds.
		{`{"id": "a", "limits": {"idleTimeout": "5m", "headerTimeout": "1500ms"}}`, `{"limits": {"idleTimeout": "300s", "headerTimeout": "1.500s"}}`, true},
		{`{"id": "a", "exec": {"timeout": "1m"}}`, `{"exec": {"timeout": "5s"}}`, false},
		// What the file leaves out is not compared, however the daemon
		// filled it in.
		{`{"id": "a", "handler": "HANDLER_UPPER"}`, `{"handler": "HANDLER_UPPER", "unixMode": "0600", "framing": {"request": "FRAMING_JSON_HEADER"},
		  "limits": {"maxConnections": 1024}, "capture": {"maxFrames": 1000}, "exec": {"timeout": "5s"}, "labels": {"a": "b"}, "expireTime": "2030-01-01T00:00:00Z"}`, true},
		// ttl is not a field diff compares (see ttlDue).
		{`{"id": "a", "ttl": "10m"}`, `{"expireTime": "2030-01-01T00:00:00Z"}`, true},
	} {
		ls, errs := readSpecFile("f", []byte(tc.file))
		if len(errs) > 0 {
			t.Fatal(errors.Join(errs...))
		}
		cur := listenerOf(t, tc.current)
		_, changed, err := diff(ls[0], cur)
		if err != nil {
			t.Fatal(err)
		}
		if changed == tc.same {
			t.Errorf("%s against %s: changed %v, want %v", tc.file, tc.current, changed, !tc.same)
		}
	}
}

// TestGoDurations: a file gives any duration field as Go writes
// durations, or as protojson does; the loader hands protojson seconds, and
// a bad one fails naming its field.
func TestGoDurations(t *testing.T) {
	t.Parallel()
	file := `
- id: go
  ttl: 1h30m
  limits: {headerTimeout: 500ms, idleTimeout: 10m}
  exec: {timeout: 1.5s}
- id: proto
  ttl: 3600s
  limits: {headerTimeout: "0.500s", idleTimeout: 0s}
  exec: {timeout: "2.000000001s"}
`
	want := []*sockplanev1.Listener{
		{
			Id: "go", Ttl: durationpb.New(90 * time.Minute),
			Limits: &sockplanev1.Limits{HeaderTimeout: durationpb.New(500 * time.Millisecond), IdleTimeout: durationpb.New(10 * time.Minute)},
			Exec:   &sockplanev1.ExecOptions{Timeout: durationpb.New(1500 * time.Millisecond)},
		},
		{
			Id: "proto", Ttl: durationpb.New(time.Hour),
			Limits: &sockplanev1.Limits{HeaderTimeout: durationpb.New(500 * time.Millisecond), IdleTimeout: durationpb.New(0)},
			Exec:   &sockplanev1.ExecOptions{Timeout: durationpb.New(2*time.Second + 1)},
		},
	}
	got, errs := readSpecFile("f.yaml", []byte(file))
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	for i, fl := range got {
		if !proto.Equal(fl.l, want[i]) {
			t.Errorf("listener %d:\n got %v\nwant %v", i, fl.l, want[i])
		}
	}
	if p := pathsOf(got); p != "go: exec.timeout,limits.header_timeout,limits.idle_timeout\nproto: exec.timeout,limits.header_timeout,limits.idle_timeout\n" {
		t.Errorf("paths:\n%s", p)
	}

	for _, tc := range []struct{ file, want string }{
		{`{id: a, ttl: 10 minutes}`, `f.yaml: listeners[0] (a): ttl: "10 minutes" is not a duration`},
		{`{id: a, ttl: 600}`, `f.yaml: listeners[0] (a): ttl: want a duration string such as "30s", "10m" or "1h30m", not 600`},
		{`{id: a, limits: {idleTimeout: 5x}}`, `f.yaml: listeners[0] (a): limits.idleTimeout: "5x" is not a duration`},
		{`{id: a, limits: {idle_timeout: [1s]}}`, `f.yaml: listeners[0] (a): limits.idle_timeout: want a duration string`},
		{`{id: a, exec: {timeout: soon}}`, `f.yaml: listeners[0] (a): exec.timeout: "soon" is not a duration`},
	} {
		ls, errs := readSpecFile("f.yaml", []byte(tc.file))
		if err := errors.Join(errs...); len(ls) != 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: read %d, error %v; want %q", tc.file, len(ls), err, tc.want)
		}
	}
}

// durationFields lists the paths of every google.protobuf.Duration field
// reachable from desc, as the descriptor has them: what jsondur.Normalize must
// find without a list of its own.
func durationFields(desc protoreflect.MessageDescriptor, prefix string, depth int) []string {
	var paths []string
	fields := desc.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() != protoreflect.MessageKind || f.IsList() || f.IsMap() || depth > 3 {
			continue
		}
		name := prefix + f.JSONName()
		switch full := f.Message().FullName(); {
		case full == durationName:
			paths = append(paths, name)
		case !strings.HasPrefix(string(full), "google.protobuf."):
			paths = append(paths, durationFields(f.Message(), name+".", depth+1)...)
		}
	}
	return paths
}

// setJSON sets path ("a.b.c") in obj to v, making the objects on the way.
func setJSON(obj map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		sub, ok := obj[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			obj[k] = sub
		}
		obj = sub
	}
	obj[keys[len(keys)-1]] = v
}

// TestGoDurationsEveryField: each duration field of a Listener, and of the
// requests with a drainTimeout, found by walking the descriptors, takes a
// Go duration; and a message of them protojson then reads.
func TestGoDurationsEveryField(t *testing.T) {
	t.Parallel()
	for _, m := range []proto.Message{
		&sockplanev1.Listener{},
		&sockplanev1.StopListenerRequest{},
		&sockplanev1.DeleteListenerRequest{},
		&sockplanev1.BatchDeleteListenersRequest{},
	} {
		desc := m.ProtoReflect().Descriptor()
		paths := durationFields(desc, "", 0)
		if len(paths) == 0 {
			t.Errorf("%s: no duration fields found", desc.FullName())
			continue
		}
		obj := map[string]any{}
		for _, p := range paths {
			setJSON(obj, p, "1m30s")
		}
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = jsondur.Normalize(b, desc); err != nil {
			t.Errorf("%s: %v", desc.FullName(), err)
			continue
		}
		got := m.ProtoReflect().New().Interface()
		if err := protojson.Unmarshal(b, got); err != nil {
			t.Errorf("%s: protojson of %s: %v", desc.FullName(), b, err)
			continue
		}
		if n := strings.Count(string(b), `"90s"`); n != len(paths) {
			t.Errorf("%s: %d of %d duration fields (%s) rewritten: %s", desc.FullName(), n, len(paths), strings.Join(paths, ", "), b)
		}
	}
	found := durationFields(listenerDesc, "", 0)
	for _, want := range []string{"ttl", "limits.headerTimeout", "limits.idleTimeout", "exec.timeout"} {
		if !slices.Contains(found, want) {
			t.Errorf("the Listener's duration fields %q do not hold %s", found, want)
		}
	}

	// A request's drainTimeout, as a caller of the API would write it.
	b, err := jsondur.Normalize([]byte(`{"filter":"env=ci","drainTimeout":"500ms"}`), (&sockplanev1.BatchDeleteListenersRequest{}).ProtoReflect().Descriptor())
	if err != nil || !strings.Contains(string(b), `"drainTimeout":"0.5s"`) {
		t.Errorf("drainTimeout 500ms: %s, %v", b, err)
	}
	_, err = jsondur.Normalize([]byte(`{"drain_timeout":"later"}`), (&sockplanev1.StopListenerRequest{}).ProtoReflect().Descriptor())
	if err == nil || !strings.Contains(err.Error(), `drain_timeout: "later" is not a duration`) {
		t.Errorf("drain_timeout later: %v", err)
	}
}

// TestTTLDue: a file's ttl goes to an existing listener only when it has
// no expiry or would outlive now + ttl.
func TestTTLDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	for _, tc := range []struct {
		what   string
		ttl    *durationpb.Duration
		expire *timestamppb.Timestamp
		due    bool
	}{
		{"no ttl", nil, at(time.Minute), false},
		{"no ttl, no expiry", nil, nil, false},
		{"no expiry yet", durationpb.New(10 * time.Minute), nil, true},
		{"applied just now", durationpb.New(10 * time.Minute), at(10 * time.Minute), false},
		{"applied a while ago", durationpb.New(10 * time.Minute), at(3 * time.Minute), false},
		{"clocks a second apart", durationpb.New(10 * time.Minute), at(10*time.Minute + time.Second), false},
		{"a shorter ttl", durationpb.New(5 * time.Minute), at(7 * time.Minute), true},
		{"a longer ttl: never extended", durationpb.New(time.Hour), at(7 * time.Minute), false},
		{"negative: for the daemon to refuse", durationpb.New(-time.Minute), at(7 * time.Minute), true},
	} {
		if got := ttlDue(tc.ttl, tc.expire, now); got != tc.due {
			t.Errorf("%s: due %v, want %v", tc.what, got, tc.due)
		}
	}
}
