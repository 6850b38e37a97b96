package specpb

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/jsondur"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// FuzzSpecFromProto feeds listener bodies, as REST would decode them,
// through the conversion and Provision: whatever the body, the answer is
// a spec or an error, never a panic, and a *rawsock.FieldError when the
// body names a bad field. Provision's checks are what stand between a
// body and the engine, so they are fuzzed together.
func FuzzSpecFromProto(f *testing.F) {
	for _, seed := range []string{
		`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`,
		`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT","script":{"greeting":{"body":"hi"},"rules":[{"match":{"bodyRegex":"^a+$","header":{"n":"5"}},"reply":{"bodyBase64":"AAEC","delay":"50ms","then":"THEN_CLOSE"}},{}],"default":{"echo":true}}}`,
		`{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT","script":{"rules":[{"reply":null}]}}`,
		`{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","faults":[{"drop":{},"probability":0.5},{"latency":{"delay":"1s"},"direction":"DIRECTION_IN"},{"slicer":{"averageBytes":2}}],"faultSeed":7}`,
		`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","faults":[{},{"limitData":{"bytes":"18446744073709551615"}},{"bandwidth":{}},{"resetPeer":{"after":"-1s"}}]}`,
		`{"transport":"TRANSPORT_UNIX","address":"/tmp/x.sock","tls":{"certFile":"/nonexistent","keyFile":""}}`,
		`{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","tls":{"selfSigned":true}}`,
	} {
		f.Add([]byte(seed))
	}
	md := (&sockplanev1.Listener{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, body []byte) {
		body, err := jsondur.Normalize(body, md)
		if err != nil {
			return
		}
		var l sockplanev1.Listener
		if protojson.Unmarshal(body, &l) != nil {
			return
		}
		if l.GetTls().GetSelfSigned() {
			l.Tls.SelfSigned = false // making a key per input would only slow the fuzzer
		}
		spec, err := SpecFromProto(&l)
		if err != nil {
			var fe *rawsock.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("SpecFromProto error %v is not a FieldError", err)
			}
			return
		}
		prov, err := registry.Policy{}.Provision(spec)
		if err != nil {
			return
		}
		// What Provision accepted converts back and reads the same.
		again, err := SpecFromProto(SpecToProto(prov.Spec))
		if err != nil {
			t.Fatalf("the provisioned spec does not convert back: %v", err)
		}
		if !proto.Equal(SpecToProto(again), SpecToProto(prov.Spec)) {
			t.Fatalf("round trip changed the spec:\n%v\n%v", SpecToProto(prov.Spec), SpecToProto(again))
		}
	})
}
