package script

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// Options are the facts about the listener that decide which scripts
// make sense on it.
type Options struct {
	// ResponseFraming is the framing of the listener's replies; 0 means
	// wire.FramingJSONHeader, as in a wire.Codec. Only that framing has a
	// header for Reply.Header.
	ResponseFraming wire.Framing
	// Datagram is set for UDP and Unix datagram listeners, which have no
	// connections: nothing to greet, close or reset.
	Datagram bool
}

// reply is a Reply compiled: its body decoded and its header fields in
// the order they are sent, so that sending it allocates nothing.
type reply struct {
	body    []byte
	echo    bool
	extra   []wire.HeaderField
	delay   time.Duration
	noReply bool
	then    Then
}

// New checks s against the listener o describes and compiles it. Its
// errors are *rawsock.FieldError with the field's JSON path relative to
// the script, e.g. "rules[2].match.bodyRegex".
func New(s Spec, o Options) (*Handler, error) {
	h := &Handler{rules: make([]rule, len(s.Rules))}
	if s.Greeting != nil {
		if o.Datagram {
			return nil, fieldErrorf("greeting", "not valid on datagram transports")
		}
		if s.Greeting.Echo {
			return nil, fieldErrorf("greeting.echo", "not valid on a greeting: there is no request to echo")
		}
		g, err := compileReply("greeting", *s.Greeting, o)
		if err != nil {
			return nil, err
		}
		h.greeting = g
	}
	for i, r := range s.Rules {
		path := "rules[" + strconv.Itoa(i) + "]"
		m, err := match.Compile(r.Match)
		if err != nil {
			return nil, prefixField(path+".match", err)
		}
		rp, err := compileReply(path+".reply", r.Reply, o)
		if err != nil {
			return nil, err
		}
		h.rules[i].match, h.rules[i].reply = m, rp
	}
	if s.Default != nil {
		d, err := compileReply("default", *s.Default, o)
		if err != nil {
			return nil, err
		}
		h.def = d
	}
	return h, nil
}

// prefixField puts the path of a sub-spec in front of the field its
// error names, so that the error names the field from the script's top.
func prefixField(path string, err error) error {
	var fe *rawsock.FieldError
	if errors.As(err, &fe) {
		return &rawsock.FieldError{Field: path + "." + fe.Field, Reason: fe.Reason}
	}
	return fmt.Errorf("%s: %w", path, err)
}

// compileReply checks r, whose JSON path is path, and compiles it.
func compileReply(path string, r Reply, o Options) (*reply, error) {
	if !r.Then.valid() {
		return nil, fieldErrorf(path+".then", "unknown value %d", int(r.Then))
	}
	if r.Then != ThenKeepOpen && o.Datagram {
		return nil, fieldErrorf(path+".then", "not valid on datagram transports: there is no connection to end")
	}
	if r.Delay < 0 {
		return nil, fieldErrorf(path+".delay", "%v is negative", r.Delay)
	}
	if r.Delay > MaxDelay {
		return nil, fieldErrorf(path+".delay", "%v is more than the %v a reply may wait", r.Delay, MaxDelay)
	}
	if r.NoReply {
		if err := checkNoReply(path, r); err != nil {
			return nil, err
		}
		return &reply{noReply: true, then: r.Then}, nil
	}
	body, err := replyBody(path, r)
	if err != nil {
		return nil, err
	}
	extra, err := replyHeader(path, r.Header, o)
	if err != nil {
		return nil, err
	}
	return &reply{body: body, echo: r.Echo, extra: extra, delay: r.Delay, then: r.Then}, nil
}

// checkNoReply refuses the fields that say what to send on a reply that
// sends nothing: they would be silently ignored.
func checkNoReply(path string, r Reply) error {
	const reason = "must be unset with noReply"
	switch {
	case r.Body != nil:
		return fieldErrorf(path+".body", reason)
	case r.BodyBase64 != "":
		return fieldErrorf(path+".bodyBase64", reason)
	case r.Echo:
		return fieldErrorf(path+".echo", reason)
	case len(r.Header) > 0:
		return fieldErrorf(path+".header", reason)
	case r.Delay > 0:
		// Delay holds back replies; with none there is nothing to hold.
		return fieldErrorf(path+".delay", reason)
	}
	return nil
}

// replyBody is the fixed body of r: nil for an echo or an empty body.
func replyBody(path string, r Reply) ([]byte, error) {
	switch {
	case r.Body != nil && r.BodyBase64 != "":
		return nil, fieldErrorf(path+".bodyBase64", "conflicts with body: set at most one of body, bodyBase64 and echo")
	case r.Echo && r.Body != nil:
		return nil, fieldErrorf(path+".echo", "conflicts with body: set at most one of body, bodyBase64 and echo")
	case r.Echo && r.BodyBase64 != "":
		return nil, fieldErrorf(path+".echo", "conflicts with bodyBase64: set at most one of body, bodyBase64 and echo")
	}
	// The size is checked before the body is made, so that a huge one
	// is refused without a copy.
	tooBig := func(field string, n int) error {
		return fieldErrorf(field, "%d bytes, more than the %d a frame may carry", n, wire.HardMaxBodyBytes)
	}
	switch {
	case r.Body != nil:
		if n := len(*r.Body); n > wire.HardMaxBodyBytes {
			return nil, tooBig(path+".body", n)
		}
		return []byte(*r.Body), nil
	case r.BodyBase64 != "":
		field := path + ".bodyBase64"
		// Padding makes the estimate up to 2 bytes more than the body.
		if n := base64.RawStdEncoding.DecodedLen(len(r.BodyBase64)); n > wire.HardMaxBodyBytes+2 {
			return nil, tooBig(field, n)
		}
		body, err := match.DecodeBase64(r.BodyBase64)
		if err != nil {
			return nil, fieldErrorf(field, "not standard base64: %v", err)
		}
		if len(body) > wire.HardMaxBodyBytes {
			return nil, tooBig(field, len(body))
		}
		return body, nil
	}
	return nil, nil
}

// replyHeader turns the extra header fields into what Reply takes, in
// the order of their names so that the bytes on the wire do not change
// from one run to the next.
func replyHeader(path string, header map[string]string, o Options) ([]wire.HeaderField, error) {
	if len(header) == 0 {
		return nil, nil
	}
	field := path + ".header"
	if framing := o.ResponseFraming; framing != 0 && framing != wire.FramingJSONHeader {
		return nil, fieldErrorf(field, "the %v response framing has no header; only %v has", framing, wire.FramingJSONHeader)
	}
	extra := make([]wire.HeaderField, 0, len(header))
	for _, name := range slices.Sorted(maps.Keys(header)) {
		if name == "data_size" {
			return nil, fieldErrorf(field+"["+strconv.Quote(name)+"]", "is the body's length, which the listener sets")
		}
		extra = append(extra, wire.HeaderField{Name: name, Value: header[name]})
	}
	// A header larger than peers read by default would make the reply
	// unreadable; count it with the longest data_size a body can have.
	codec := wire.Codec{Framing: wire.FramingJSONHeader}
	frame, err := codec.AppendHeader(nil, wire.HardMaxBodyBytes, extra...)
	if err != nil {
		return nil, fieldErrorf(field, "%v", err)
	}
	if n := len(codec.HeaderText(frame)); n > wire.DefaultMaxHeaderBytes {
		return nil, fieldErrorf(field, "encodes to %d bytes, more than the %d a JSON header may have", n, wire.DefaultMaxHeaderBytes)
	}
	return extra, nil
}
