package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRESTLimitsShowDefaults: GET shows every limit, defaults filled in;
// bad limits are 400 naming the field.
func TestRESTLimitsShowDefaults(t *testing.T) {
	d := startDaemon(t)
	r := rest(t, d, "POST", "/v1/listeners", `{"id":"lim","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","limits":{"idleTimeout":"0s"}}`)
	limits, _ := r.body["limits"].(map[string]any)
	want := map[string]any{"maxConnections": 1024.0, "maxHeaderBytes": 16384.0, "maxBodyBytes": 4194304.0,
		"headerTimeout": "10s", "idleTimeout": "0s", "allowLargerDatagramReplies": false}
	for k, v := range want {
		if limits[k] != v {
			t.Fatalf("limits.%s = %v, want %v: %s", k, limits[k], v, r.raw)
		}
	}
	if r := rest(t, d, "GET", "/v1/listeners/lim", ""); !strings.Contains(r.raw, `"connectionsRejected":"0"`) {
		t.Fatalf("stats lack connectionsRejected: %s", r.raw)
	}
	for body, field := range map[string]string{
		`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","limits":{"maxBodyBytes":67108865}}`: "limits.maxBodyBytes",
		`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","limits":{"headerTimeout":"-1s"}}`:   "limits.headerTimeout",
		`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","limits":{"idleTimeout":"-5s"}}`:     "limits.idleTimeout",
	} {
		if r := rest(t, d, "POST", "/v1/listeners", body); r.status != http.StatusBadRequest || !strings.Contains(r.raw, field) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, r.status, r.raw, field)
		}
	}
}

// TestRESTStopModes: an immediate stop cuts a frame in progress at once;
// a bad mode or drain timeout is 400.
func TestRESTStopModes(t *testing.T) {
	d := startDaemon(t)
	created := rest(t, d, "POST", "/v1/listeners", `{"id":"stopme","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	conn, err := net.Dial("tcp", str(created.body, "status", "boundAddress"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{16, 0}); err != nil { // a frame begun, never finished
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testTimeout); ; {
		if r := rest(t, d, "GET", "/v1/listeners/stopme", ""); strings.Contains(r.raw, `"bytesIn":"2"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the partial frame never arrived")
		}
	}
	for body, field := range map[string]string{`{"mode":"STOP_MODE_SOMETIMES"}`: "mode", `{"drainTimeout":"-1s"}`: "drainTimeout"} {
		if r := rest(t, d, "POST", "/v1/listeners/stopme:stop", body); r.status != http.StatusBadRequest || !strings.Contains(r.raw, field) {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
	start := time.Now()
	if r := rest(t, d, "POST", "/v1/listeners/stopme:stop", `{"mode":"STOP_MODE_IMMEDIATE"}`); r.status != http.StatusOK {
		t.Fatalf("stop: %d %s", r.status, r.raw)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("immediate stop took %v", took)
	}
	if r := rest(t, d, "DELETE", "/v1/listeners/stopme?mode=STOP_MODE_IMMEDIATE&drainTimeout=1s", ""); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
}

func TestRESTMaxListeners(t *testing.T) {
	d := startDaemon(t, func(o *options) { o.maxListeners = 2 })
	for i := range 3 {
		r := rest(t, d, "POST", "/v1/listeners", `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0"}`)
		if i < 2 && r.status != http.StatusOK {
			t.Fatalf("listener %d: %d %s", i, r.status, r.raw)
		}
		if i == 2 && (r.status != http.StatusTooManyRequests || !strings.Contains(r.raw, "too many listeners")) {
			t.Fatalf("listener past --max-listeners: %d %s, want 429", r.status, r.raw)
		}
	}
}
