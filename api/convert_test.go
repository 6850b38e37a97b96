package api

import (
	"testing"
	"time"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// TestEveryStateIsMapped fails when the registry gains a state the API
// cannot show.
func TestEveryStateIsMapped(t *testing.T) {
	for _, s := range []registry.State{registry.StateRunning, registry.StateStopped, registry.StateFailed} {
		if _, ok := states[s]; !ok {
			t.Errorf("state %v has no mapping", s)
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
	spec, err := specpb.SpecFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Unix(1700000000, 0)
	out := listenerToProto(registry.Info{Spec: spec, State: registry.StateFailed, Error: "boom", StartedAt: started,
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
