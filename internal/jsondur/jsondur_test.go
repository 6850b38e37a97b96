package jsondur

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func TestNormalize(t *testing.T) {
	md := (&sockplanev1.Listener{}).ProtoReflect().Descriptor()
	in := `{"ttl":"1h30m","limits":{"idleTimeout":"0s","headerTimeout":"250ms"},
	  "script":{"rules":[{"reply":{"delay":"50ms"}},{"reply":{"delay":"1.5s"}}]},
	  "faults":[{"latency":{"delay":"200ms","jitter":"20ms"}}],"address":"5s"}`
	out, err := Normalize([]byte(in), md)
	if err != nil {
		t.Fatal(err)
	}
	var l sockplanev1.Listener
	if err := protojson.Unmarshal(out, &l); err != nil {
		t.Fatalf("protojson rejects %s: %v", out, err)
	}
	checks := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"ttl", l.GetTtl().AsDuration(), 90 * time.Minute},
		{"limits.headerTimeout", l.GetLimits().GetHeaderTimeout().AsDuration(), 250 * time.Millisecond},
		{"script.rules[0].reply.delay", l.GetScript().GetRules()[0].GetReply().GetDelay().AsDuration(), 50 * time.Millisecond},
		{"script.rules[1].reply.delay", l.GetScript().GetRules()[1].GetReply().GetDelay().AsDuration(), 1500 * time.Millisecond},
		{"faults[0].latency.jitter", l.GetFaults()[0].GetLatency().GetJitter().AsDuration(), 20 * time.Millisecond},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if l.GetAddress() != "5s" {
		t.Errorf("a string field that looks like a duration changed: %q", l.GetAddress())
	}
}

func TestNormalizeUnchanged(t *testing.T) {
	md := (&sockplanev1.Listener{}).ProtoReflect().Descriptor()
	for _, in := range []string{`{"ttl":"30s"}`, `{"id":"x"}`, `not json`, `[1,2]`, `{"ttl":null}`} {
		out, err := Normalize([]byte(in), md)
		if err != nil || string(out) != in {
			t.Errorf("Normalize(%s) = %s, %v; want it unchanged", in, out, err)
		}
	}
}

func TestNormalizeNamesTheField(t *testing.T) {
	md := (&sockplanev1.Listener{}).ProtoReflect().Descriptor()
	_, err := Normalize([]byte(`{"script":{"rules":[{},{},{"reply":{"delay":"soon"}}]}}`), md)
	if err == nil || !strings.Contains(err.Error(), `script.rules[2].reply.delay: "soon" is not a duration`) {
		t.Fatalf("err = %v, want it to name script.rules[2].reply.delay", err)
	}
	_, err = Normalize([]byte(`{"ttl":600}`), md)
	if err == nil || !strings.Contains(err.Error(), `ttl: want a duration string such as "30s", "10m" or "1h30m", not 600`) {
		t.Fatalf("err = %v, want it to say a number is not a duration", err)
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 50 * time.Millisecond: "0.05s", time.Hour: "3600s", -1500 * time.Millisecond: "-1.5s", time.Nanosecond: "0.000000001s",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
	}
}
