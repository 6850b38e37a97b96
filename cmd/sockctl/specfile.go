package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"sigs.k8s.io/yaml"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/jsondur"
)

// A spec file is what apply -f reads and get -o yaml writes: listeners in
// the JSON of the REST API's bodies (protojson: lowerCamelCase or proto
// names, enums by name, durations as "30s"), or the same in YAML. It
// holds a list of listeners, {"listeners": [...]} (what list -o json
// prints), or one listener. Unlike the REST API, a file may also give a
// duration as Go writes one ("10m", "1h30m", "500ms"): see package jsondur.

// notSpec are the fields of a Listener that are not its spec: output only
// (etag, status), or input only and relative to the call (ttl). get -o
// yaml leaves them out; apply ignores etag and status, and sends ttl only
// when it creates a listener.
var notSpec = []protoreflect.Name{"etag", "status", "ttl"}

var listenerDesc = (&sockplanev1.Listener{}).ProtoReflect().Descriptor()

// specJSON is the JSON object of l's spec fields, with default values as
// -o json prints them.
func specJSON(l *sockplanev1.Listener) (map[string]json.RawMessage, error) {
	b, err := jsonOptions.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	for _, name := range notSpec {
		delete(obj, listenerDesc.Fields().ByName(name).JSONName())
	}
	return obj, nil
}

// writeSpecYAML writes l's spec fields as a YAML object.
func writeSpecYAML(w io.Writer, l *sockplanev1.Listener) error {
	obj, err := specJSON(l)
	if err != nil {
		return err
	}
	return writeYAML(w, obj)
}

// writeSpecsYAML writes the spec fields of ls as a YAML list.
func writeSpecsYAML(w io.Writer, ls []*sockplanev1.Listener) error {
	objs := make([]map[string]json.RawMessage, len(ls))
	for i, l := range ls {
		var err error
		if objs[i], err = specJSON(l); err != nil {
			return err
		}
	}
	return writeYAML(w, objs)
}

// writeYAML writes v, encoded as JSON, as YAML. Keys are in alphabetical
// order, and strings YAML would read as something else ("0660", "yes")
// are quoted.
func writeYAML(w io.Writer, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	_, err = w.Write(y)
	return err
}

// specPath is one spec field a file states, from Listener down: a
// top-level field, or a field of framing, exec, capture or limits. Its
// proto names joined by "." are its update-mask path.
type specPath []protoreflect.FieldDescriptor

func (p specPath) String() string {
	names := make([]string, len(p))
	for i, f := range p {
		names[i] = string(f.Name())
	}
	return strings.Join(names, ".")
}

// only returns a new listener with nothing but p's field of l set; an
// empty one when l does not set it.
func (p specPath) only(l *sockplanev1.Listener) *sockplanev1.Listener {
	out := &sockplanev1.Listener{}
	src := l.ProtoReflect()
	for _, f := range p[:len(p)-1] {
		if !src.Has(f) {
			return out
		}
		src = src.Get(f).Message()
	}
	last := p[len(p)-1]
	if !src.Has(last) {
		return out
	}
	dst := out.ProtoReflect()
	for _, f := range p[:len(p)-1] {
		dst = dst.Mutable(f).Message()
	}
	dst.Set(last, src.Get(last))
	return out
}

// sameAt reports whether a and b hold the same value at p, compared as
// protojson writes them, after normalised: "30s" and "30.000s" are one
// duration, an absent field and its zero value are one, and so are the
// spellings of one octal mode ("660", "0660"), which the daemon shows as
// "0660".
func sameAt(p specPath, a, b *sockplanev1.Listener) (bool, error) {
	ja, err := compactJSON(normalised(p.only(a)))
	if err != nil {
		return false, err
	}
	jb, err := compactJSON(normalised(p.only(b)))
	if err != nil {
		return false, err
	}
	return bytes.Equal(ja, jb), nil
}

// normalised is l with its fields spelt as the daemon shows them, where
// the daemon takes several spellings of one value: unixMode in four octal
// digits. A value the daemon would refuse is left as it is, so that it
// differs, and the update that follows says what is wrong with it.
func normalised(l *sockplanev1.Listener) *sockplanev1.Listener {
	if l.UnixMode != nil {
		if m, err := strconv.ParseUint(l.GetUnixMode(), 8, 32); err == nil && m <= 0o777 {
			mode := fmt.Sprintf("%04o", m)
			l.UnixMode = &mode
		}
	}
	return l
}

// compactJSON is m in protojson without the spaces protojson adds at
// random.
func compactJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return buf.Bytes(), nil
}

// fieldNamed finds a field by its JSON name or its proto name, as
// protojson does.
func fieldNamed(d protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	if f := d.Fields().ByJSONName(name); f != nil {
		return f
	}
	return d.Fields().ByName(protoreflect.Name(name))
}

// hasSubfields says whether the file's fields of f are compared and
// updated one by one (framing, exec, capture, limits) rather than whole
// (labels, a list, a duration or time).
func hasSubfields(f protoreflect.FieldDescriptor) bool {
	return f.Kind() == protoreflect.MessageKind && !f.IsMap() && !f.IsList() &&
		!strings.HasPrefix(string(f.Message().FullName()), "google.protobuf.")
}

// statedPaths are the spec fields a listener's JSON object states, in
// field-number order: the fields of its keys, and of the keys of its
// framing, exec, capture and limits objects. A null states nothing, as
// for protojson it is the field's absence; so does an empty object of
// framing, exec, capture or limits. id and the fields of notSpec are
// left out.
func statedPaths(obj map[string]json.RawMessage) ([]specPath, error) {
	var paths []specPath
	for key, raw := range obj {
		f := fieldNamed(listenerDesc, key)
		switch {
		case f == nil:
			return nil, fmt.Errorf("unknown field %q", key)
		case isNull(raw) || f.Name() == "id" || slices.Contains(notSpec, f.Name()):
			continue
		case !hasSubfields(f):
			paths = append(paths, specPath{f})
			continue
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(raw, &sub); err != nil {
			return nil, fmt.Errorf("%s: want an object: %w", key, err)
		}
		for subKey, subRaw := range sub {
			sf := fieldNamed(f.Message(), subKey)
			switch {
			case sf == nil:
				return nil, fmt.Errorf("%s: unknown field %q", key, subKey)
			case isNull(subRaw):
				continue
			}
			paths = append(paths, specPath{f, sf})
		}
	}
	slices.SortFunc(paths, func(a, b specPath) int {
		for i := range min(len(a), len(b)) {
			if c := cmp.Compare(a[i].Number(), b[i].Number()); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(a), len(b))
	})
	return paths, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// fileListener is one listener of a spec file.
type fileListener struct {
	index int                   // its place in the file's list, from 0
	l     *sockplanev1.Listener // as protojson decodes it
	paths []specPath            // the spec fields it states
}

// fileError is an error of a spec file, or of one of its listeners.
type fileError struct {
	file  string
	index int    // -1: the whole file
	id    string // "" when unknown
	err   error
}

func (e *fileError) Error() string {
	switch {
	case e.index < 0:
		return fmt.Sprintf("%s: %v", e.file, e.err)
	case e.id == "":
		return fmt.Sprintf("%s: listeners[%d]: %v", e.file, e.index, e.err)
	}
	return fmt.Sprintf("%s: listeners[%d] (%s): %v", e.file, e.index, e.id, e.err)
}

func (e *fileError) Unwrap() error { return e.err }

// decodeOptions decode a listener strictly: an unknown field is an error.
var decodeOptions = protojson.UnmarshalOptions{DiscardUnknown: false}

// readSpecFile decodes the listeners of a spec file named file. It
// returns the listeners it could read, and an error (a *fileError) for
// each it could not; a file it cannot read at all gives none of the
// first and one error.
func readSpecFile(file string, data []byte) ([]fileListener, []error) {
	fail := func(err error) ([]fileListener, []error) {
		return nil, []error{&fileError{file: file, index: -1, err: err}}
	}
	j := data
	if !json.Valid(data) {
		if yamlDocuments(data) > 1 {
			return fail(fmt.Errorf("several YAML documents (---): put the listeners in one list"))
		}
		var err error
		if j, err = yaml.YAMLToJSON(data); err != nil {
			return fail(fmt.Errorf("neither JSON nor YAML: %w", err))
		}
	}
	j = bytes.TrimSpace(j)
	var raws []json.RawMessage
	switch {
	case len(j) > 0 && j[0] == '[':
		if err := json.Unmarshal(j, &raws); err != nil {
			return fail(err)
		}
	case len(j) > 0 && j[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(j, &obj); err != nil {
			return fail(err)
		}
		list, ok := obj["listeners"]
		if !ok {
			raws = []json.RawMessage{j} // one listener
			break
		}
		for k := range obj {
			if k != "listeners" && k != "nextPageToken" && k != "next_page_token" {
				return fail(fmt.Errorf(`unknown field %q beside "listeners"`, k))
			}
		}
		if err := json.Unmarshal(list, &raws); err != nil {
			return fail(fmt.Errorf("listeners: want a list: %w", err))
		}
	default:
		return fail(fmt.Errorf(`want a listener, a list of listeners or {"listeners": [...]}`))
	}
	if len(raws) == 0 {
		return fail(fmt.Errorf("no listeners"))
	}

	var (
		ls    []fileListener
		errs  []error
		first = map[string]int{} // the index that names an id first
	)
	for i, raw := range raws {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			errs = append(errs, &fileError{file: file, index: i, err: fmt.Errorf("want a listener object")})
			continue
		}
		id := idOf(obj)
		raw, err := jsondur.Normalize(raw, listenerDesc)
		if err != nil {
			errs = append(errs, &fileError{file: file, index: i, id: id, err: err})
			continue
		}
		l := &sockplanev1.Listener{}
		if err := decodeOptions.Unmarshal(raw, l); err != nil {
			errs = append(errs, &fileError{file: file, index: i, id: id, err: err})
			continue
		}
		if l.GetId() == "" {
			errs = append(errs, &fileError{file: file, index: i, err: fmt.Errorf("no id: every listener apply reads needs one")})
			continue
		}
		if j, dup := first[l.GetId()]; dup {
			errs = append(errs, &fileError{file: file, index: i, id: l.GetId(), err: fmt.Errorf("id given again: listeners[%d] has it", j)})
			continue
		}
		first[l.GetId()] = i
		paths, err := statedPaths(obj)
		if err != nil {
			errs = append(errs, &fileError{file: file, index: i, id: l.GetId(), err: err})
			continue
		}
		ls = append(ls, fileListener{index: i, l: l, paths: paths})
	}
	return ls, errs
}

// yamlDocuments counts the YAML documents of data that hold more than
// comments, roughly: a "---" line starts another. YAMLToJSON reads the
// first alone, and the others must not be dropped unsaid.
func yamlDocuments(data []byte) int {
	docs, content := 0, false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t") {
			content = false
			continue
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && !content {
			docs++
			content = true
		}
	}
	return docs
}

// idOf is the id of a listener's JSON object, or "" when it has none
// that is a string; for the errors of one protojson refuses.
func idOf(obj map[string]json.RawMessage) string {
	var id string
	if raw, ok := obj["id"]; ok && json.Unmarshal(raw, &id) == nil {
		return id
	}
	return ""
}

var durationName = (&durationpb.Duration{}).ProtoReflect().Descriptor().FullName()
