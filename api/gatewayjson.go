package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sockplane/sockplane/api/openapi"
	"github.com/sockplane/sockplane/internal/jsondur"
)

// ndjson is the media type of a server stream over REST (GET /v1/events):
// newline-delimited JSON, one message per line, as the OpenAPI document
// says.
const ndjson = openapi.NDJSON

// gatewayJSON is the gateway's JSON marshaler (runtime.JSONPb), with
// these differences:
//
//   - Each message of a server stream is written as the message itself,
//     one per line, instead of the gateway's {"result": ...} wrapper:
//     newline-delimited JSON (application/x-ndjson), flushed per
//     message, that curl -N shows as it comes and any NDJSON reader
//     parses.
//   - An error that ends a stream is written as the error itself, in the
//     shape of every other error of the API ({"code", "message",
//     "details"}), instead of the gateway's {"error": ...} wrapper.
//   - A request body is exactly one JSON value: data after it is refused
//     (the gateway's decoder would read the first value and ignore the
//     rest).
//   - An enum value the field does not have is refused naming the field
//     by its path in the body and listing the values it takes.
type gatewayJSON struct {
	runtime.JSONPb
}

// Marshal implements runtime.Marshaler.
func (m *gatewayJSON) Marshal(v any) ([]byte, error) {
	switch wrapped := v.(type) {
	case map[string]any: // a stream message, runtime.ForwardResponseStream
		if result, ok := wrapped["result"]; ok && len(wrapped) == 1 {
			return m.JSONPb.Marshal(result)
		}
	case map[string]proto.Message: // a stream error, the runtime's errorChunk
		if st, ok := wrapped["error"]; ok && len(wrapped) == 1 {
			return m.JSONPb.Marshal(st)
		}
	}
	return m.JSONPb.Marshal(v)
}

// StreamContentType implements runtime.StreamContentType: the media type
// of a server stream's reply.
func (m *gatewayJSON) StreamContentType(any) string { return ndjson }

// NewDecoder implements runtime.Marshaler. The gateway decodes a request
// body with one Decode call.
func (m *gatewayJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return &bodyDecoder{m: m, r: r, dec: json.NewDecoder(r)}
}

// bodyDecoder decodes a request body: one JSON value, then nothing but
// white space.
type bodyDecoder struct {
	m   *gatewayJSON
	r   io.Reader
	dec *json.Decoder
}

// Decode implements runtime.Decoder. An empty body (or only white space)
// is io.EOF, which the gateway takes as no body, as before.
func (d *bodyDecoder) Decode(v any) error {
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		return err
	}
	if err := d.atEnd(); err != nil {
		return err
	}
	raw, err := jsondur.Normalize(raw, messageDescriptor(v))
	if err != nil {
		return err
	}
	if err := d.m.Unmarshal(raw, v); err != nil {
		return explainEnum(err, raw, v)
	}
	return nil
}

// atEnd reads what follows the JSON value and fails at the first byte
// that is not JSON white space.
func (d *bodyDecoder) atEnd() error {
	offset := d.dec.InputOffset()
	rest := io.MultiReader(d.dec.Buffered(), d.r)
	buf := make([]byte, 512)
	for {
		n, err := rest.Read(buf)
		for i, c := range buf[:n] {
			switch c {
			case ' ', '\t', '\n', '\r':
			default:
				return fmt.Errorf("data after the JSON body, at byte %d: a request body is one JSON object and nothing after it", offset+int64(i))
			}
		}
		offset += int64(n)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("reading the request body: %w", err)
		}
	}
}

// enumErrorPart is how protojson words an enum value the field does not
// have: "invalid value for enum field <jsonName>: <token>".
const enumErrorPart = "invalid value for enum field "

// explainEnum improves err, protojson's error for raw decoded into v,
// when it is about an enum value: the field is named by its path in the
// body (framing.request, not request) and the values the enum takes are
// listed, from its descriptor. Any other error is returned as it is.
//
// protojson reads the body in order and stops at the first bad token, so
// the first enum value in document order that protojson does not take is
// the one it is about; which is checked again against the field name in
// its message before the message is changed.
func explainEnum(err error, raw []byte, v any) error {
	msg := err.Error()
	if !strings.Contains(msg, enumErrorPart) {
		return err
	}
	md := messageDescriptor(v)
	if md == nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	bad, werr := findBadEnum(dec, md, "")
	if werr != nil || bad == nil {
		return err
	}
	leaf := enumErrorPart + bad.field.JSONName() + ": "
	if !strings.Contains(msg, leaf) {
		return err
	}
	msg = strings.Replace(msg, leaf, enumErrorPart+bad.path+": ", 1)
	return fmt.Errorf("%s; valid values: %s", msg, strings.Join(enumNames(bad.field.Enum()), ", "))
}

// enumNames lists the names of an enum's values in declaration order,
// except the zero value when it is the "not set" placeholder
// (FOO_UNSPECIFIED, buf's rule), which means "the default".
func enumNames(ed protoreflect.EnumDescriptor) []string {
	values := ed.Values()
	names := make([]string, 0, values.Len())
	for i := range values.Len() {
		ev := values.Get(i)
		if ev.Number() == 0 && strings.HasSuffix(string(ev.Name()), "_UNSPECIFIED") {
			continue
		}
		names = append(names, string(ev.Name()))
	}
	return names
}

// messageDescriptor is the descriptor of the message v decodes into: a
// message, or a pointer to a message field (the gateway decodes a body
// mapped to one field, body: "listener", into &req.Listener).
func messageDescriptor(v any) protoreflect.MessageDescriptor {
	if m, ok := v.(proto.Message); ok {
		return m.ProtoReflect().Descriptor()
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
		if m, ok := reflect.Zero(t).Interface().(proto.Message); ok {
			return m.ProtoReflect().Descriptor() // a nil message has its descriptor
		}
	}
	return nil
}

// badEnum is an enum value its field does not take.
type badEnum struct {
	path  string // in the body: framing.request, items[2], labels[k]
	field protoreflect.FieldDescriptor
}

// findBadEnum reads one JSON value for a message md from dec and returns
// the first enum value in it, in document order, that protojson does not
// take (a name its enum does not have, a string or a number that is not an
// int32, a null in a list). Fields are looked up as protojson does: by JSON name, then by
// proto name. Values it cannot read as md (a syntax error, a field it
// does not know) are skipped: protojson reports those itself.
func findBadEnum(dec *json.Decoder, md protoreflect.MessageDescriptor, prefix string) (*badEnum, error) {
	if wellKnown(md) { // their JSON forms are not their fields
		return nil, skipValue(dec)
	}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, err
	}
	fields := md.Fields()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil {
			if err := skipValue(dec); err != nil {
				return nil, err
			}
			continue
		}
		var bad *badEnum
		switch path := prefix + key; {
		case fd.IsMap():
			bad, err = findInMap(dec, fd.MapValue(), path)
		case fd.IsList():
			bad, err = findInList(dec, fd, path)
		default:
			bad, err = findInValue(dec, fd, path, false)
		}
		if bad != nil || err != nil {
			return bad, err
		}
	}
	_, err = dec.Token() // '}'
	return nil, err
}

// findInValue reads one value of a singular field fd, or, when elem is
// set, of an element of a list or map field fd.
func findInValue(dec *json.Decoder, fd protoreflect.FieldDescriptor, path string, elem bool) (*badEnum, error) {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			return &badEnum{path: path, field: fd}, nil // the walk cannot go on, and need not
		}
		if !enumTakes(fd, tok, elem) {
			return &badEnum{path: path, field: fd}, nil
		}
		return nil, nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return findBadEnum(dec, fd.Message(), path+".")
	default:
		return nil, skipValue(dec)
	}
}

// enumTakes reports whether protojson takes tok, a scalar JSON token, as
// a value of the enum field fd: a name of one of its values, an int32, or
// null where that means "not set" (a singular field) or is the value
// (google.protobuf.NullValue).
func enumTakes(fd protoreflect.FieldDescriptor, tok json.Token, elem bool) bool {
	switch v := tok.(type) {
	case string:
		return fd.Enum().Values().ByName(protoreflect.Name(v)) != nil
	case json.Number:
		n, err := strconv.ParseFloat(string(v), 64)
		return err == nil && n == math.Trunc(n) && n >= math.MinInt32 && n <= math.MaxInt32
	case nil:
		return !elem || fd.Enum().FullName() == "google.protobuf.NullValue"
	default:
		return false
	}
}

func findInList(dec *json.Decoder, fd protoreflect.FieldDescriptor, path string) (*badEnum, error) {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, err // null, or not a list: protojson says so
	}
	for i := 0; dec.More(); i++ {
		if bad, err := findInValue(dec, fd, path+"["+strconv.Itoa(i)+"]", true); bad != nil || err != nil {
			return bad, err
		}
	}
	_, err = dec.Token() // ']'
	return nil, err
}

func findInMap(dec *json.Decoder, value protoreflect.FieldDescriptor, path string) (*badEnum, error) {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		if bad, err := findInValue(dec, value, path+"["+key+"]", true); bad != nil || err != nil {
			return bad, err
		}
	}
	_, err = dec.Token() // '}'
	return nil, err
}

func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	return dec.Decode(&skip)
}

// wellKnown reports whether md is one of google.protobuf's types, whose
// JSON forms (a duration string, a timestamp, any JSON for Value, a typed
// object for Any) are not objects of their fields.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}
