package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/wire"
)

// rawClient is a raw TCP client of a listener.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawClient) roundTrip(t *testing.T, body string) string {
	t.Helper()
	var codec wire.Codec
	frame, _ := codec.AppendFrame(nil, []byte(body))
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	f, err := codec.ReadFrame(c.br)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return string(f.Body)
}

func frameLen(body string) string {
	var codec wire.Codec
	f, _ := codec.AppendFrame(nil, []byte(body))
	return fmt.Sprint(len(f))
}

// TestInspectConnections: two raw clients show up in ListConnections with
// their own byte and frame counts; closing one through the API gives it
// EOF while the other keeps working; the captured frames read back.
func TestInspectConnections(t *testing.T) {
	d := startDaemon(t)
	created := rest(t, d, "POST", "/v1/listeners", `{"id":"watched","transport":"TRANSPORT_TCP","address":"127.0.0.1:0",
		"handler":"HANDLER_UPPER","capture":{"maxFrames":100,"maxBytesPerFrame":64}}`)
	addr := str(created.body, "status", "boundAddress")
	if addr == "" {
		t.Fatalf("create: %s", created.raw)
	}
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.roundTrip(t, "from a")
	b.roundTrip(t, "from b")
	b.roundTrip(t, "again")

	list := rest(t, d, "GET", "/v1/listeners/watched/connections", "")
	var conns struct {
		Connections []map[string]any `json:"connections"`
	}
	if err := json.Unmarshal([]byte(list.raw), &conns); err != nil || len(conns.Connections) != 2 {
		t.Fatalf("connections: %s", list.raw)
	}
	ca, cb := conns.Connections[0], conns.Connections[1]
	check := func(c map[string]any, peer string, framesIn, bytesIn string) {
		t.Helper()
		if c["peerAddress"] != peer || c["localAddress"] != addr || c["framesIn"] != framesIn || c["framesOut"] != framesIn || c["bytesIn"] != bytesIn || c["openedAt"] == "" {
			t.Fatalf("connection %v, want peer %s, %s frames, %s bytes in", c, peer, framesIn, bytesIn)
		}
	}
	check(ca, a.conn.LocalAddr().String(), "1", frameLen("from a"))
	check(cb, b.conn.LocalAddr().String(), "2", fmt.Sprint(mustAtoi(frameLen("from b"))+mustAtoi(frameLen("again"))))

	if r := rest(t, d, "DELETE", "/v1/listeners/watched/connections/"+ca["id"].(string), ""); r.status != http.StatusOK {
		t.Fatalf("close: %d %s", r.status, r.raw)
	}
	if _, err := a.br.ReadByte(); err != io.EOF {
		t.Fatalf("the closed client reads %v, want EOF", err)
	}
	if got := b.roundTrip(t, "still here"); got != "STILL HERE" {
		t.Fatalf("the other client got %q", got)
	}
	if r := rest(t, d, "DELETE", "/v1/listeners/watched/connections/"+ca["id"].(string), ""); r.status != http.StatusNotFound {
		t.Fatalf("close a closed connection: %d %s", r.status, r.raw)
	}
	if r := rest(t, d, "DELETE", "/v1/listeners/watched/connections/abc", ""); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "connectionId") {
		t.Fatalf("close a bad id: %d %s", r.status, r.raw)
	}

	frames := rest(t, d, "GET", "/v1/listeners/watched/frames?connectionId="+cb["id"].(string), "")
	var got struct {
		Frames []struct {
			ConnectionID string `json:"connectionId"`
			Direction    string `json:"direction"`
			Header       string `json:"header"`
			Body         []byte `json:"body"`
		} `json:"frames"`
	}
	if err := json.Unmarshal([]byte(frames.raw), &got); err != nil {
		t.Fatal(err)
	}
	want := []struct{ dir, body string }{{"DIRECTION_IN", "from b"}, {"DIRECTION_OUT", "FROM B"}, {"DIRECTION_IN", "again"}, {"DIRECTION_OUT", "AGAIN"}, {"DIRECTION_IN", "still here"}, {"DIRECTION_OUT", "STILL HERE"}}
	if len(got.Frames) != len(want) {
		t.Fatalf("frames: %s", frames.raw)
	}
	for i, w := range want {
		f := got.Frames[i]
		if f.Direction != w.dir || string(f.Body) != w.body || f.ConnectionID != cb["id"] || f.Header != fmt.Sprintf(`{"data_size": %d}`, len(w.body)) {
			t.Fatalf("frame %d = %+v, want %s %q", i, f, w.dir, w.body)
		}
	}
}

func mustAtoi(s string) int {
	var n int
	_, _ = fmt.Sscan(s, &n)
	return n
}

// TestRecordAndOperatorReply is the tutorial's UDP chat server: a record
// listener gets a datagram, and the operator's reply reaches the sender,
// over REST and over gRPC.
func TestRecordAndOperatorReply(t *testing.T) {
	d := startDaemon(t)
	created := rest(t, d, "POST", "/v1/listeners", `{"id":"chat","transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_RECORD"}`)
	if capture, _ := created.body["capture"].(map[string]any); capture["maxFrames"] != 1000.0 {
		t.Fatalf("record listener's capture: %s", created.raw)
	}
	udp, err := net.Dial("udp", str(created.body, "status", "boundAddress"))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	_ = udp.SetDeadline(time.Now().Add(testTimeout))
	var codec wire.Codec
	hello, _ := codec.AppendFrame(nil, []byte("hello, operator"))
	if _, err := udp.Write(hello); err != nil {
		t.Fatal(err)
	}
	var connID string
	for deadline := time.Now().Add(testTimeout); connID == ""; {
		list := rest(t, d, "GET", "/v1/listeners/chat/connections", "")
		if conns, _ := list.body["connections"].([]any); len(conns) == 1 {
			connID = conns[0].(map[string]any)["id"].(string)
		} else if time.Now().After(deadline) {
			t.Fatalf("the sender never showed up: %s", list.raw)
		}
	}
	readReply := func() wire.Frame {
		t.Helper()
		buf := make([]byte, 64<<10)
		n, err := udp.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		f, err := codec.ParseDatagram(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	body := base64.StdEncoding.EncodeToString([]byte("hi from REST"))
	sent := rest(t, d, "POST", "/v1/listeners/chat/connections/"+connID+":send", `{"body":"`+body+`","header":{"from":"operator"}}`)
	if sent.status != http.StatusOK || sent.body["bytesWritten"] == "0" {
		t.Fatalf("send: %d %s", sent.status, sent.raw)
	}
	if f := readReply(); string(f.Body) != "hi from REST" || string(f.Header) != `{"data_size": 12, "from": "operator"}` {
		t.Fatalf("over REST the sender got %s %q", f.Header, f.Body)
	}

	client := sockplanev1.NewListenerServiceClient(dialGRPC(t, d))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := client.SendFrame(ctx, &sockplanev1.SendFrameRequest{Id: "chat", ConnectionId: connID, Body: []byte("hi from gRPC")}); err != nil {
		t.Fatal(err)
	}
	if f := readReply(); string(f.Body) != "hi from gRPC" {
		t.Fatalf("over gRPC the sender got %q", f.Body)
	}
	frames, err := client.ListFrames(ctx, &sockplanev1.ListFramesRequest{Id: "chat"})
	if err != nil || len(frames.GetFrames()) != 3 || string(frames.GetFrames()[0].GetBody()) != "hello, operator" {
		t.Fatalf("captured: %v %v", frames, err)
	}
}

// TestEventsOverREST is `curl -N 127.0.0.1:7080/v1/events`: one JSON line
// per event as a listener is created, connected to and stopped.
func TestEventsOverREST(t *testing.T) {
	d := startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+d.httpAddr()+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req) // returns once the stream is subscribed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("the stream ended: %v", lines.Err())
		}
		var e map[string]any
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("not one JSON object per line: %q", lines.Text())
		}
		return e
	}

	created := rest(t, d, "POST", "/v1/listeners", `{"id":"ev","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	c := dialRaw(t, str(created.body, "status", "boundAddress"))
	c.roundTrip(t, "ping")
	_ = c.conn.Close()
	rest(t, d, "POST", "/v1/listeners/ev:stop", "")

	for _, want := range []string{"EVENT_TYPE_LISTENER_CREATED", "EVENT_TYPE_CONNECTION_OPENED", "EVENT_TYPE_CONNECTION_CLOSED", "EVENT_TYPE_LISTENER_STOPPED"} {
		e := next()
		if e["type"] != want || e["listenerId"] != "ev" || e["at"] == "" {
			t.Fatalf("event %v, want %s", e, want)
		}
	}
}
