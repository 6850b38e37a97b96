// Package jsondur lets the JSON of a protobuf message spell its
// google.protobuf.Duration fields as people do ("50ms", "1h30m"), not
// only as protojson reads them ("0.050s"): Normalize rewrites each such
// value, found by the message's descriptor, into protojson's form.
//
// sockplane's REST bodies and sockctl's fixture files both go through
// it, so "delay": "200ms" means the same everywhere.
package jsondur

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

const durationName protoreflect.FullName = "google.protobuf.Duration"

// Normalize returns raw, a JSON object of message md, with every
// Duration field written in Go's syntax ("50ms") rewritten as protojson
// writes it ("0.050s"). raw comes back unchanged when it has none, or
// when it is not a JSON object (protojson then says what is wrong). A
// value that is neither form, or not a string, is an error naming the
// field by its path as the JSON spells it ("script.rules[2].reply.delay").
func Normalize(raw []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	if md == nil || !hasDurations(md, map[protoreflect.FullName]bool{}) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw, nil
	}
	changed, err := walk(v, md, "")
	if err != nil || !changed {
		return raw, err
	}
	return json.Marshal(v)
}

// hasDurations reports whether md has a Duration field at any depth.
func hasDurations(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		if m := fieldMessage(fields.Get(i)); m != nil && (m.FullName() == durationName || hasDurations(m, seen)) {
			return true
		}
	}
	return false
}

// fieldMessage is the message type of a field's values (a map's values),
// or nil.
func fieldMessage(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return fd.Message()
	}
	return nil
}

// walk rewrites the durations of v, a decoded object of md, in place.
func walk(v any, md protoreflect.MessageDescriptor, path string) (bool, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return false, nil
	}
	changed := false
	for key, val := range obj {
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(key))
		}
		if fd == nil {
			continue // protojson reports unknown fields
		}
		m := fieldMessage(fd)
		if m == nil {
			continue
		}
		name := join(path, key)
		var err error
		var c bool
		switch {
		case fd.IsMap():
			entries, _ := val.(map[string]any)
			for k, e := range entries {
				if c, err = walkValue(e, m, fmt.Sprintf("%s[%q]", name, k), func(s string) { entries[k] = s }); err != nil {
					return false, err
				}
				changed = changed || c
			}
		case fd.IsList():
			items, _ := val.([]any)
			for i, e := range items {
				if c, err = walkValue(e, m, fmt.Sprintf("%s[%d]", name, i), func(s string) { items[i] = s }); err != nil {
					return false, err
				}
				changed = changed || c
			}
		default:
			if c, err = walkValue(val, m, name, func(s string) { obj[key] = s }); err != nil {
				return false, err
			}
			changed = changed || c
		}
	}
	return changed, nil
}

// walkValue rewrites one value of message type m: a Duration's string
// through set, or the durations inside another message.
func walkValue(v any, m protoreflect.MessageDescriptor, path string, set func(string)) (bool, error) {
	if v == nil {
		return false, nil // null: the field is absent
	}
	if m.FullName() != durationName {
		if strings.HasPrefix(string(m.FullName()), "google.protobuf.") {
			return false, nil // another well-known type (a Struct's keys are anyone's)
		}
		return walk(v, m, path)
	}
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		return false, fmt.Errorf(`%s: want a duration string such as "30s", "10m" or "1h30m", not %s`, path, b)
	}
	if isProtoDuration(s) {
		return false, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return false, fmt.Errorf(`%s: %q is not a duration: give one such as "30s", "10m", "1h30m" or "500ms"`, path, s)
	}
	set(Format(d))
	return true, nil
}

// isProtoDuration reports the form protojson reads: an optional sign,
// digits, an optional fraction, and "s".
func isProtoDuration(s string) bool {
	t, ok := strings.CutSuffix(s, "s")
	if !ok || t == "" {
		return false
	}
	t = strings.TrimPrefix(t, "-")
	whole, frac, _ := strings.Cut(t, ".")
	return whole != "" && allDigits(whole) && allDigits(frac)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Format writes d as protojson does: seconds with up to nine decimals.
func Format(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	secs, nanos := d/time.Second, d%time.Second
	if nanos == 0 {
		return fmt.Sprintf("%s%ds", sign, secs)
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nanos), "0")
	return fmt.Sprintf("%s%d.%ss", sign, secs, frac)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
