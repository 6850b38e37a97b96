package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"sigs.k8s.io/yaml"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/jsondur"
)

// faultFlagHelp is the help of --fault, in the help of create and update.
const faultFlagHelp = `--fault SPEC adds a fault, in the order given; SPEC is the kind, with its
value, and options, comma-separated:
  latency=D[,jitter=D]        delay each frame by D, plus up to jitter
  bandwidth=N                 at most N bytes per second
  slicer=N[,variation=N][,delay=D]  write replies in pieces of about N bytes
  timeout[=D]                 stop answering; close after D (default 0s: never)
  resetPeer[=D]               reset the connection after D (default 0s)
  slowClose=D                 delay the close by D
  limitData=N                 close after N bytes
  drop | duplicate            swallow, or send twice, the frames
and on every kind: probability=P (0 to 1, per connection on streams, per
datagram otherwise; default 1), direction=in|out (in: requests, before the
handler; default out: replies), name=NAME, and a condition on the frame:
match.bodyEquals=TEXT, match.bodyPrefix=TEXT, match.bodyContains=TEXT,
match.bodyRegex=RE2, match.bodyBase64=B64, match.header.KEY=VALUE. A value
holding a comma goes in double quotes, Go-style: match.bodyRegex="^a{1,3}$".
D is a duration as Go writes it (200ms, 1s). Kinds and keys may also be
written with '-' (reset-peer) or '_' (reset_peer).
`

// faultKind is a kind of fault of --fault: how its value and its own
// options fill in the Fault.
type faultKind struct {
	// name is the kind as --fault and the API's JSON spell it.
	name string
	// value is what the kind's value is, for errors: "a duration".
	// valueRequired says whether it must be given; "" means it takes
	// none.
	value         string
	valueRequired bool
	// options are the keys the kind takes beside the common ones, as
	// help spells them.
	options []string
	// set fills in f from the kind's value (empty when not given).
	set func(f *sockplanev1.Fault, v string, given bool) error
	// option fills in f from one of options, named by its normalised
	// key.
	option func(f *sockplanev1.Fault, key, v string) error
}

// faultKinds are the kinds of --fault, by normalised name.
var faultKinds = map[string]*faultKind{
	"latency": {
		name: "latency", value: "a duration, e.g. latency=200ms", valueRequired: true, options: []string{"jitter"},
		set: func(f *sockplanev1.Fault, v string, _ bool) error {
			d, err := parseFaultDuration(v)
			f.Kind = &sockplanev1.Fault_Latency{Latency: &sockplanev1.LatencyFault{Delay: d}}
			return err
		},
		option: func(f *sockplanev1.Fault, key, v string) error {
			d, err := parseFaultDuration(v)
			f.GetLatency().Jitter = d
			return err
		},
	},
	"bandwidth": {
		name: "bandwidth", value: "bytes per second, e.g. bandwidth=1024", valueRequired: true,
		set: func(f *sockplanev1.Fault, v string, _ bool) error {
			n, err := parsePositive(v, 32)
			f.Kind = &sockplanev1.Fault_Bandwidth{Bandwidth: &sockplanev1.BandwidthFault{BytesPerSecond: uint32(n)}}
			return err
		},
	},
	"slicer": {
		name: "slicer", value: "the average bytes of a piece, e.g. slicer=8", valueRequired: true, options: []string{"variation", "delay"},
		set: func(f *sockplanev1.Fault, v string, _ bool) error {
			n, err := parsePositive(v, 32)
			f.Kind = &sockplanev1.Fault_Slicer{Slicer: &sockplanev1.SlicerFault{AverageBytes: uint32(n)}}
			return err
		},
		option: func(f *sockplanev1.Fault, key, v string) error {
			s := f.GetSlicer()
			if key == "delay" {
				d, err := parseFaultDuration(v)
				s.Delay = d
				return err
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return fmt.Errorf("want a number of bytes: %w", numError(err))
			}
			s.VariationBytes = uint32(n)
			return nil
		},
	},
	"timeout": {
		name: "timeout", value: "a duration, e.g. timeout=5s (0s: never close)",
		set: func(f *sockplanev1.Fault, v string, given bool) error {
			t := &sockplanev1.TimeoutFault{}
			f.Kind = &sockplanev1.Fault_Timeout{Timeout: t}
			if !given {
				return nil
			}
			var err error
			t.After, err = parseFaultDuration(v)
			return err
		},
	},
	"resetpeer": {
		name: "resetPeer", value: "a duration, e.g. resetPeer=100ms",
		set: func(f *sockplanev1.Fault, v string, given bool) error {
			r := &sockplanev1.ResetPeerFault{}
			f.Kind = &sockplanev1.Fault_ResetPeer{ResetPeer: r}
			if !given {
				return nil
			}
			var err error
			r.After, err = parseFaultDuration(v)
			return err
		},
	},
	"slowclose": {
		name: "slowClose", value: "a duration, e.g. slowClose=1s", valueRequired: true,
		set: func(f *sockplanev1.Fault, v string, _ bool) error {
			d, err := parseFaultDuration(v)
			f.Kind = &sockplanev1.Fault_SlowClose{SlowClose: &sockplanev1.SlowCloseFault{Delay: d}}
			return err
		},
	},
	"limitdata": {
		name: "limitData", value: "a number of bytes, e.g. limitData=1000", valueRequired: true,
		set: func(f *sockplanev1.Fault, v string, _ bool) error {
			n, err := parsePositive(v, 64)
			f.Kind = &sockplanev1.Fault_LimitData{LimitData: &sockplanev1.LimitDataFault{Bytes: n}}
			return err
		},
	},
	"drop": {
		name: "drop",
		set: func(f *sockplanev1.Fault, _ string, _ bool) error {
			f.Kind = &sockplanev1.Fault_Drop{Drop: &sockplanev1.DropFault{}}
			return nil
		},
	},
	"duplicate": {
		name: "duplicate",
		set: func(f *sockplanev1.Fault, _ string, _ bool) error {
			f.Kind = &sockplanev1.Fault_Duplicate{Duplicate: &sockplanev1.DuplicateFault{}}
			return nil
		},
	},
}

// faultKindList names the kinds for errors.
const faultKindList = "latency=D, bandwidth=N, slicer=N, timeout[=D], resetPeer[=D], slowClose=D, limitData=N, drop or duplicate"

// commonFaultKeys names the keys of every kind, for errors.
const commonFaultKeys = "name, probability, direction and match.bodyEquals, match.bodyPrefix, match.bodyContains, match.bodyRegex, match.bodyBase64, match.header.KEY"

// specItem is one KEY or KEY=VALUE of a --fault SPEC.
type specItem struct {
	key, value string
	hasValue   bool
}

// splitSpec splits "k1=v1,k2,k3=v3" into its items, trimming the spaces
// around keys and values. A value that starts with a double quote is a
// Go string literal, and may hold commas and spaces.
func splitSpec(s string) ([]specItem, error) {
	var items []specItem
	for s != "" {
		var it specItem
		i := strings.IndexAny(s, "=,")
		switch {
		case i < 0:
			it.key, s = s, ""
		case s[i] == ',':
			it.key, s = s[:i], s[i+1:]
		default:
			it.key, s, it.hasValue = s[:i], strings.TrimLeft(s[i+1:], " "), true
			if strings.HasPrefix(s, `"`) {
				q, err := strconv.QuotedPrefix(s)
				if err != nil {
					return nil, fmt.Errorf("key %q: a quoted value without its end", strings.TrimSpace(it.key))
				}
				it.value, _ = strconv.Unquote(q) // QuotedPrefix checked it
				s = strings.TrimLeft(s[len(q):], " ")
				if s != "" && s[0] != ',' {
					return nil, fmt.Errorf("key %q: a comma must follow a quoted value", strings.TrimSpace(it.key))
				}
			} else if j := strings.IndexByte(s, ','); j >= 0 {
				it.value, s = strings.TrimSpace(s[:j]), s[j:]
			} else {
				it.value, s = strings.TrimSpace(s), ""
			}
			s = strings.TrimPrefix(s, ",")
		}
		it.key = strings.TrimSpace(it.key)
		if it.key == "" {
			return nil, errors.New("an empty key: want KIND[=VALUE] then KEY=VALUE options, comma-separated")
		}
		items = append(items, it)
	}
	return items, nil
}

// normKey lowercases a key and drops its '-' and '_', so that resetPeer,
// reset-peer and reset_peer are one. The KEY of match.header.KEY is kept
// as it is.
func normKey(key string) string {
	const header = "match.header."
	if len(key) > len(header) && strings.EqualFold(key[:len(header)], header) {
		return header + key[len(header):]
	}
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(key))
}

// parseFaults reads the --fault flags given, skipping empty ones (so
// that update's --fault with an empty SPEC removes every fault).
func parseFaults(specs []string) ([]*sockplanev1.Fault, error) {
	var faults []*sockplanev1.Fault
	for _, spec := range specs {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		f, err := parseFault(spec)
		if err != nil {
			return nil, fmt.Errorf("--fault %q: %w", spec, err)
		}
		faults = append(faults, f)
	}
	return faults, nil
}

// parseFault reads one --fault SPEC.
func parseFault(spec string) (*sockplanev1.Fault, error) {
	items, err := splitSpec(spec)
	if err != nil {
		return nil, err
	}
	var (
		kind  *faultKind
		index int
	)
	for i, it := range items {
		k := faultKinds[normKey(it.key)]
		if k == nil {
			continue
		}
		if kind != nil {
			return nil, fmt.Errorf("two kinds, %s and %s: give each fault a --fault of its own", kind.name, k.name)
		}
		kind, index = k, i
	}
	if kind == nil {
		return nil, fmt.Errorf("no kind of fault: want one of %s", faultKindList)
	}
	f := &sockplanev1.Fault{}
	it := items[index]
	switch {
	case kind.value == "" && it.hasValue:
		return nil, fmt.Errorf("%s takes no value, got %s=%s", kind.name, it.key, it.value)
	case kind.valueRequired && (!it.hasValue || it.value == ""):
		return nil, fmt.Errorf("%s needs %s", kind.name, kind.value)
	}
	if err := kind.set(f, it.value, it.hasValue); err != nil {
		return nil, fmt.Errorf("%s=%s: %w", it.key, it.value, err)
	}
	seen := map[string]bool{normKey(it.key): true}
	for i, it := range items {
		if i == index {
			continue
		}
		key := normKey(it.key)
		if seen[key] {
			return nil, fmt.Errorf("key %q given twice", it.key)
		}
		seen[key] = true
		if !it.hasValue {
			return nil, fmt.Errorf("key %q needs a value: %s=VALUE", it.key, it.key)
		}
		if err := setFaultKey(f, kind, key, it.value); errors.Is(err, errUnknownKey) {
			return nil, fmt.Errorf("unknown key %q: %w", it.key, err)
		} else if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", it.key, it.value, err)
		}
	}
	return f, nil
}

// unknownKeyError is the error of setFaultKey for a key that no fault,
// or not this kind, takes: it says which keys are taken.
type unknownKeyError struct{ takes string }

func (e *unknownKeyError) Error() string { return e.takes }

// errUnknownKey matches every *unknownKeyError, for errors.Is.
var errUnknownKey = &unknownKeyError{}

func (e *unknownKeyError) Is(target error) bool { return target == errUnknownKey }

// setFaultKey sets the common key or kind's option key (normalised) of f.
func setFaultKey(f *sockplanev1.Fault, kind *faultKind, key, v string) error {
	switch key {
	case "name":
		f.Name = v
		return nil
	case "probability":
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || p > 1 {
			return errors.New("want a probability from 0 to 1, e.g. 0.5")
		}
		f.Probability = &p
		return nil
	case "direction":
		d := newEnumFlag(directionNames, "")
		if err := d.Set(v); err != nil {
			return err
		}
		f.Direction = d.value
		return nil
	}
	if m, ok := strings.CutPrefix(key, "match."); ok {
		return setMatchKey(faultMatch(f), m, v)
	}
	for _, o := range kind.options {
		if o == key {
			return kind.option(f, key, v)
		}
	}
	takes := "every fault takes " + commonFaultKeys
	if len(kind.options) > 0 {
		takes = fmt.Sprintf("%s takes %s, and %s", kind.name, strings.Join(kind.options, ", "), takes)
	}
	return &unknownKeyError{takes: takes}
}

func faultMatch(f *sockplanev1.Fault) *sockplanev1.Match {
	if f.Match == nil {
		f.Match = &sockplanev1.Match{}
	}
	return f.Match
}

// setMatchKey sets the field of m that key (normalised, after "match.")
// names.
func setMatchKey(m *sockplanev1.Match, key, v string) error {
	if h, ok := strings.CutPrefix(key, "header."); ok {
		if m.Header == nil {
			m.Header = map[string]string{}
		}
		m.Header[h] = v
		return nil
	}
	switch key {
	case "bodyequals":
		m.BodyEquals = &v
	case "bodyprefix":
		m.BodyPrefix = v
	case "bodycontains":
		m.BodyContains = v
	case "bodyregex":
		m.BodyRegex = v
	case "bodybase64":
		m.BodyBase64 = v
	default:
		return &unknownKeyError{takes: "a match takes bodyEquals, bodyPrefix, bodyContains, bodyRegex, bodyBase64 and header.KEY"}
	}
	return nil
}

// parseFaultDuration reads a duration as Go writes it; 0 may go without
// a unit.
func parseFaultDuration(v string) (*durationpb.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return nil, fmt.Errorf("want a duration such as 200ms or 1s")
	case d < 0:
		return nil, fmt.Errorf("want a duration that is not negative")
	}
	return durationpb.New(d), nil
}

// parsePositive reads a whole number from 1 to the largest of bits.
func parsePositive(v string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("want a whole number of bytes: %w", numError(err))
	}
	if n == 0 {
		return 0, errors.New("want at least 1")
	}
	return n, nil
}

// numError is the reason of a strconv error, without its repetition of
// the function and the input.
func numError(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

var scriptDesc = (&sockplanev1.Script{}).ProtoReflect().Descriptor()

// readScriptFile reads the --script FILE: a Script in the JSON of the
// REST API's bodies ({"greeting": ..., "rules": [...], "default": ...}),
// or the same in YAML, durations in either the API's form or Go's.
func readScriptFile(file string) (*sockplanev1.Script, error) {
	if file == "" {
		return nil, errors.New("--script: give a FILE of the script, JSON or YAML")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--script: %w", err)
	}
	fail := func(err error) (*sockplanev1.Script, error) {
		return nil, fmt.Errorf("--script %s: %w", file, err)
	}
	j := data
	if !json.Valid(data) {
		if yamlDocuments(data) > 1 {
			return fail(errors.New("several YAML documents (---): a script file holds one script"))
		}
		if j, err = yaml.YAMLToJSON(data); err != nil {
			return fail(fmt.Errorf("neither JSON nor YAML: %w", err))
		}
	}
	if j = bytes.TrimSpace(j); len(j) == 0 || j[0] != '{' {
		return fail(errors.New(`want a script object: {"greeting": ..., "rules": [...], "default": ...}`))
	}
	if j, err = jsondur.Normalize(j, scriptDesc); err != nil {
		return fail(err)
	}
	s := &sockplanev1.Script{}
	if err := decodeOptions.Unmarshal(j, s); err != nil {
		return fail(err)
	}
	return s, nil
}
