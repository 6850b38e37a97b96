package main

import (
	"fmt"
	"strings"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/wire"
)

// enumName pairs a name a user types with the value it stands for.
type enumName[T comparable] struct {
	name  string
	value T
}

// The friendly names of every enum the CLI reads or prints, in the order
// help and error messages list them.
var (
	transportNames = []enumName[sockplanev1.Transport]{
		{"tcp", sockplanev1.Transport_TRANSPORT_TCP},
		{"udp", sockplanev1.Transport_TRANSPORT_UDP},
		{"unix", sockplanev1.Transport_TRANSPORT_UNIX},
		{"unixgram", sockplanev1.Transport_TRANSPORT_UNIXGRAM},
	}
	handlerNames = []enumName[sockplanev1.Handler]{
		{"echo", sockplanev1.Handler_HANDLER_ECHO},
		{"upper", sockplanev1.Handler_HANDLER_UPPER},
		{"exec", sockplanev1.Handler_HANDLER_EXEC},
		{"discard", sockplanev1.Handler_HANDLER_DISCARD},
		{"record", sockplanev1.Handler_HANDLER_RECORD},
		{"script", sockplanev1.Handler_HANDLER_SCRIPT},
		{"proxy", sockplanev1.Handler_HANDLER_PROXY},
	}
	framingNames = []enumName[sockplanev1.Framing]{
		{"json", sockplanev1.Framing_FRAMING_JSON_HEADER},
		{"length", sockplanev1.Framing_FRAMING_LENGTH_PREFIXED},
		{"raw", sockplanev1.Framing_FRAMING_RAW},
	}
	protoByteOrderNames = []enumName[sockplanev1.ByteOrder]{
		{"little", sockplanev1.ByteOrder_BYTE_ORDER_LITTLE_ENDIAN},
		{"big", sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN},
	}
	stateNames = []enumName[sockplanev1.State]{
		{"running", sockplanev1.State_STATE_RUNNING},
		{"stopped", sockplanev1.State_STATE_STOPPED},
		{"failed", sockplanev1.State_STATE_FAILED},
	}
	// codecFramingNames and byteOrderNames are the framings and byte
	// orders of send and chat, which frame messages themselves with a
	// wire.Codec. The names are those of framingNames and
	// protoByteOrderNames, so a listener created with --framing raw is
	// talked to with --framing raw.
	codecFramingNames = []enumName[wire.Framing]{
		{"json", wire.FramingJSONHeader},
		{"length", wire.FramingLengthPrefixed},
		{"raw", wire.FramingRaw},
	}
	byteOrderNames = []enumName[wire.ByteOrder]{
		{"little", wire.LittleEndian},
		{"big", wire.BigEndian},
	}
	outputNames = []enumName[outputFormat]{
		{"table", outputTable},
		{"json", outputJSON},
		{"yaml", outputYAML},
	}
	// tlsVersionNames are the TLS versions a listener may require at
	// least, as TlsOptions.min_version spells them.
	tlsVersionNames = []enumName[string]{
		{"1.2", "1.2"},
		{"1.3", "1.3"},
	}
	stopModeNames = []enumName[sockplanev1.StopMode]{
		{"graceful", sockplanev1.StopMode_STOP_MODE_GRACEFUL},
		{"immediate", sockplanev1.StopMode_STOP_MODE_IMMEDIATE},
	}
)

// enumFlag is a flag that accepts one name of a table, in any case, and
// holds the value the name stands for. It implements pflag.Value, so
// cobra refuses an unknown name while parsing, with the accepted ones.
type enumFlag[T comparable] struct {
	names []enumName[T]
	name  string // as set, lowercase; empty when never set
	value T      // the zero value when never set
}

// newEnumFlag returns a flag over names holding def, or nothing when def
// is empty. def must be one of names.
func newEnumFlag[T comparable](names []enumName[T], def string) *enumFlag[T] {
	f := &enumFlag[T]{names: names}
	if def != "" {
		if err := f.Set(def); err != nil {
			panic(err) // a bad default is a bug in this file
		}
	}
	return f
}

// Set implements pflag.Value.
func (f *enumFlag[T]) Set(s string) error {
	for _, n := range f.names {
		if strings.EqualFold(n.name, s) {
			f.name, f.value = n.name, n.value
			return nil
		}
	}
	return fmt.Errorf("want one of: %s", f.accepted(", "))
}

// String implements pflag.Value.
func (f *enumFlag[T]) String() string { return f.name }

// Type implements pflag.Value; help shows it as the flag's argument,
// e.g. "--transport tcp|udp".
func (f *enumFlag[T]) Type() string { return f.accepted("|") }

func (f *enumFlag[T]) accepted(sep string) string {
	names := make([]string, len(f.names))
	for i, n := range f.names {
		names[i] = n.name
	}
	return strings.Join(names, sep)
}

// displayName is v's friendly name; "-" for the zero value (UNSPECIFIED);
// for a value the table does not know (one added to the API later) its
// protobuf name in lowercase, e.g. "transport_sctp".
func displayName[T interface {
	comparable
	fmt.Stringer
}](names []enumName[T], v T) string {
	for _, n := range names {
		if n.value == v {
			return n.name
		}
	}
	var zero T
	if v == zero {
		return "-"
	}
	return strings.ToLower(v.String())
}
