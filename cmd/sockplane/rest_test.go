package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestRESTTour walks the README's tour over REST for each transport:
// create, talk to the port, list, stop (the port refuses), start (it
// answers again, on the same port), delete (GET answers 404).
func TestRESTTour(t *testing.T) {
	d := startDaemon(t)
	for _, tt := range []struct{ network, transport string }{
		{"tcp", "TRANSPORT_TCP"},
		{"udp", "TRANSPORT_UDP"},
	} {
		t.Run(tt.network, func(t *testing.T) {
			created := rest(t, d, "POST", "/v1/listeners",
				fmt.Sprintf(`{"transport":%q,"address":"127.0.0.1:0","handler":"HANDLER_UPPER"}`, tt.transport))
			if created.status != http.StatusOK {
				t.Fatalf("create: %d %s", created.status, created.raw)
			}
			id := str(created.body, "id")
			addr := str(created.body, "status", "boundAddress")
			if str(created.body, "status", "state") != "STATE_RUNNING" || strings.HasSuffix(addr, ":0") || addr == "" {
				t.Fatalf("create: %s", created.raw)
			}
			if !strings.HasPrefix(id, tt.network+"-") {
				t.Fatalf("generated id %q", id)
			}
			if got, err := roundTrip(t, tt.network, addr, "hello"); err != nil || got != "HELLO" {
				t.Fatalf("raw client: %q, %v", got, err)
			}

			got := rest(t, d, "GET", "/v1/listeners/"+id, "")
			stats, _ := got.body["status"].(map[string]any)["stats"].(map[string]any)
			if got.status != http.StatusOK || stats["framesIn"] != "1" || stats["framesOut"] != "1" {
				t.Fatalf("get after one frame: %s", got.raw)
			}
			list := rest(t, d, "GET", "/v1/listeners", "")
			if !strings.Contains(list.raw, `"id":"`+id+`"`) {
				t.Fatalf("list does not hold %s: %s", id, list.raw)
			}

			stopped := rest(t, d, "POST", "/v1/listeners/"+id+":stop", "")
			if stopped.status != http.StatusOK || str(stopped.body, "status", "state") != "STATE_STOPPED" {
				t.Fatalf("stop: %d %s", stopped.status, stopped.raw)
			}
			if _, err := roundTrip(t, tt.network, addr, "hello"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("a stopped listener's port: %v, want connection refused", err)
			}

			started := rest(t, d, "POST", "/v1/listeners/"+id+":start", "{}")
			if started.status != http.StatusOK || str(started.body, "status", "boundAddress") != addr {
				t.Fatalf("start: %d %s; want running on %s", started.status, started.raw, addr)
			}
			if got, err := roundTrip(t, tt.network, addr, "again"); err != nil || got != "AGAIN" {
				t.Fatalf("raw client after start: %q, %v", got, err)
			}

			if del := rest(t, d, "DELETE", "/v1/listeners/"+id, ""); del.status != http.StatusOK {
				t.Fatalf("delete: %d %s", del.status, del.raw)
			}
			if gone := rest(t, d, "GET", "/v1/listeners/"+id, ""); gone.status != http.StatusNotFound {
				t.Fatalf("get after delete: %d %s", gone.status, gone.raw)
			}
			if _, err := roundTrip(t, tt.network, addr, "hello"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("a deleted listener's port: %v, want connection refused", err)
			}
		})
	}
}

// TestRESTErrors: user errors are 4xx with a message that says what is
// wrong, never a 500.
func TestRESTErrors(t *testing.T) {
	d := startDaemon(t)
	taken := rest(t, d, "POST", "/v1/listeners", `{"id":"taken","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	if taken.status != http.StatusOK {
		t.Fatalf("create: %s", taken.raw)
	}
	takenAddr := str(taken.body, "status", "boundAddress")

	tests := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"duplicate id", "POST", "/v1/listeners", `{"id":"taken","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`, 409, "already exists: taken"},
		{"address in use", "POST", "/v1/listeners", `{"transport":"TRANSPORT_TCP","address":"` + takenAddr + `"}`, 409, "address already in use: " + takenAddr},
		{"unknown field", "POST", "/v1/listeners", `{"transport":"TRANSPORT_TCP","adress":"127.0.0.1:0"}`, 400, `unknown field "adress"`},
		{"no transport", "POST", "/v1/listeners", `{"address":"127.0.0.1:0"}`, 400, "listener.transport"},
		{"unknown transport", "POST", "/v1/listeners", `{"transport":"TRANSPORT_SCTP","address":"127.0.0.1:0"}`, 400, "TRANSPORT_SCTP"},
		{"numeric enum out of range", "POST", "/v1/listeners", `{"transport":42,"address":"127.0.0.1:0"}`, 400, "listener.transport"},
		{"no address", "POST", "/v1/listeners", `{"transport":"TRANSPORT_UDP"}`, 400, "listener.address"},
		{"address without port", "POST", "/v1/listeners", `{"transport":"TRANSPORT_UDP","address":"127.0.0.1"}`, 400, "listener.address"},
		{"bad port", "POST", "/v1/listeners", `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:99999"}`, 400, "listener.address"},
		{"bad id", "POST", "/v1/listeners", `{"id":"Bad_ID","transport":"TRANSPORT_UDP","address":"127.0.0.1:0"}`, 400, "listener.id"},
		{"foreign address", "POST", "/v1/listeners", `{"transport":"TRANSPORT_UDP","address":"192.0.2.1:0"}`, 400, "cannot bind address 192.0.2.1:0"},
		{"not JSON", "POST", "/v1/listeners", `transport=tcp`, 400, "invalid character"},
		{"unknown id", "GET", "/v1/listeners/nope", "", 404, "listener not found: nope"},
		{"bad id in path", "GET", "/v1/listeners/NOPE", "", 400, "invalid id"},
		{"stop unknown", "POST", "/v1/listeners/nope:stop", "", 404, "not found"},
		{"start unknown", "POST", "/v1/listeners/nope:start", "", 404, "not found"},
		{"delete unknown", "DELETE", "/v1/listeners/nope", "", 404, "not found"},
		{"unknown field on stop", "POST", "/v1/listeners/taken:stop", `{"mood":"calm"}`, 400, `unknown field "mood"`},
		{"unknown path", "GET", "/v1/nothing", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rest(t, d, tt.method, tt.path, tt.body)
			if r.status != tt.status || !strings.Contains(str(r.body, "message"), tt.message) {
				t.Fatalf("%s %s %s: %d %s; want %d with %q", tt.method, tt.path, tt.body, r.status, r.raw, tt.status, tt.message)
			}
		})
	}
	if r := rest(t, d, "GET", "/v1/listeners/taken", ""); str(r.body, "status", "state") != "STATE_RUNNING" {
		t.Fatalf("the failed calls disturbed the listener: %s", r.raw)
	}
}
