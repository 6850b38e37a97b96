package api

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
)

// TestEveryEnumValueIsMapped fails when the proto gains a value that the
// conversion tables do not know, before a user can hit it.
func TestEveryEnumValueIsMapped(t *testing.T) {
	check := func(name string, desc protoreflect.EnumDescriptor, has func(protoreflect.EnumNumber) bool) {
		values := desc.Values()
		for i := range values.Len() {
			if v := values.Get(i); !has(v.Number()) {
				t.Errorf("%s: %s has no mapping", name, v.Name())
			}
		}
	}
	check("transports", sockplanev1.Transport(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := transports[sockplanev1.Transport(n)]
		return ok
	})
	check("handlers", sockplanev1.Handler(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := handlers[sockplanev1.Handler(n)]
		return ok
	})
	check("framings", sockplanev1.Framing(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := framings[sockplanev1.Framing(n)]
		return ok
	})
	check("byteOrders", sockplanev1.ByteOrder(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := byteOrders[sockplanev1.ByteOrder(n)]
		return ok
	})
	for _, s := range []rawsock.State{rawsock.StateRunning, rawsock.StateStopped, rawsock.StateFailed} {
		if _, ok := states[s]; !ok {
			t.Errorf("state %v has no mapping", s)
		}
	}
}

func TestSpecFromProtoRejectsUnknownEnumValues(t *testing.T) {
	for field, l := range map[string]*sockplanev1.Listener{
		"transport":         {Transport: 99},
		"handler":           {Handler: 99},
		"framing.request":   {Framing: &sockplanev1.FramingConfig{Request: 99}},
		"framing.response":  {Framing: &sockplanev1.FramingConfig{Response: 99}},
		"framing.byteOrder": {Framing: &sockplanev1.FramingConfig{ByteOrder: 99}},
	} {
		var fe *rawsock.FieldError
		if _, err := specFromProto(l); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on it", field, err)
		}
	}
}

func TestListenerRoundTrip(t *testing.T) {
	in := &sockplanev1.Listener{
		Id: "x", Transport: sockplanev1.Transport_TRANSPORT_UDP, Address: "127.0.0.1:9",
		Handler: sockplanev1.Handler_HANDLER_UPPER,
		Framing: &sockplanev1.FramingConfig{
			Request:   sockplanev1.Framing_FRAMING_JSON_HEADER,
			Response:  sockplanev1.Framing_FRAMING_JSON_HEADER,
			ByteOrder: sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN,
		},
	}
	spec, err := specFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Unix(1700000000, 0)
	out := listenerToProto(rawsock.Info{Spec: spec, State: rawsock.StateFailed, Error: "boom", StartedAt: started,
		Stats: rawsock.StatsSnapshot{ConnectionsTotal: 3, FramesIn: 4, FramesOut: 5, BytesIn: 6, BytesOut: 7, Errors: 8}})
	if out.GetId() != "x" || out.GetTransport() != in.GetTransport() || out.GetHandler() != in.GetHandler() ||
		out.GetFraming().GetByteOrder() != in.GetFraming().GetByteOrder() || out.GetAddress() != in.GetAddress() {
		t.Fatalf("spec fields changed: %v", out)
	}
	st := out.GetStatus()
	if st.GetState() != sockplanev1.State_STATE_FAILED || st.GetError() != "boom" || !st.GetStartedAt().AsTime().Equal(started) ||
		st.GetStats().GetFramesIn() != 4 || st.GetStats().GetErrors() != 8 || st.GetStats().GetConnectionsTotal() != 3 {
		t.Fatalf("status: %v", st)
	}
}
