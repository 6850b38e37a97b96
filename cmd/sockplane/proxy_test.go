package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/internal/testenv"
	"github.com/sockplane/sockplane/wire"
)

// startTutorialServer runs testdata/tutorial/json_header_server.py on
// 127.0.0.1:port (0: any) and returns its address; the test kills it at
// its end, or earlier with the returned stop.
func startTutorialServer(t *testing.T, python, port string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "tutorial", "json_header_server.py"), "127.0.0.1", port)
	cmd.WaitDelay = time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the tutorial's server printed no port: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strings.TrimSpace(line)), stop
}

// TestProxyTutorialServer: the tutorial's JSON-header client, through a
// proxy listener, gets the tutorial's JSON-header server's answers, head
// fields of the server's own included; stopped, the upstream makes the
// proxy answer an error frame and count it; back, new connections work.
func TestProxyTutorialServer(t *testing.T) {
	python := testenv.Python(t, "the tutorial's server and client")
	upstream, stopUpstream := startTutorialServer(t, python, "0")
	d := startDaemon(t)
	addr := createListener(t, d, fmt.Sprintf(`{"id":"px","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_PROXY",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_JSON_HEADER"},"proxy":{"upstream":%q}}`, upstream))
	out := runTutorialClient(t, python, "json_header_client.py", addr, "hello\nsticky packets\n")
	for _, want := range []string{"'server': 'tutorial'", "HELLO", "STICKY PACKETS"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the tutorial's client through the proxy printed:\n%s\nwant %q", out, want)
		}
	}
	got := rest(t, d, "GET", "/v1/listeners/px", "")
	if str(got.body, "proxy", "upstream") != upstream || str(got.body, "proxy", "transport") != "TRANSPORT_TCP" || str(got.body, "proxy", "connectTimeout") != "2s" {
		t.Fatalf("the proxy's options, defaults filled in: %s", got.raw)
	}
	if str(got.body, "status", "stats", "upstreamFramesOut") != "2" || str(got.body, "status", "stats", "upstreamFramesIn") != "2" {
		t.Fatalf("upstream counters: %s", got.raw)
	}

	stopUpstream()
	reply, err := rawExchange(addr, "anyone?")
	if err == nil || !strings.Contains(err.Error(), "upstream "+upstream) {
		t.Fatalf("with the upstream down: reply %q, error %v; want an error frame naming the upstream", reply, err)
	}
	if errs := str(rest(t, d, "GET", "/v1/listeners/px", "").body, "status", "stats", "errors"); errs == "0" {
		t.Fatal("the upstream failure is not counted in stats.errors")
	}

	_, port, _ := net.SplitHostPort(upstream)
	startTutorialServer(t, python, port)
	if reply, err := rawExchange(addr, "back"); err != nil || reply != "BACK" {
		t.Fatalf("with the upstream back: %q, %v", reply, err)
	}
}

// rawExchange sends msg bare on a new connection and reads one
// JSON-header reply; an error frame is an error.
func rawExchange(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	var codec wire.Codec
	f, err := codec.ReadFrame(bufio.NewReader(c))
	if err != nil {
		return "", err
	}
	if strings.Contains(string(f.Header), `"error"`) {
		return "", errors.New(string(f.Header))
	}
	return string(f.Body), nil
}

// goUpstream is an upstream for proxy tests: it answers each JSON-header
// frame with the body upper-cased, and notes when each request arrived.
type goUpstream struct {
	ln      net.Listener
	mu      sync.Mutex
	arrived []time.Time
}

func startGoUpstream(t *testing.T) *goUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &goUpstream{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				var codec wire.Codec
				br := bufio.NewReader(c)
				for {
					f, err := codec.ReadFrame(br)
					if err != nil {
						return
					}
					u.mu.Lock()
					u.arrived = append(u.arrived, time.Now())
					u.mu.Unlock()
					reply, _ := codec.AppendFrame(nil, []byte(strings.ToUpper(string(f.Body))))
					if _, err := c.Write(reply); err != nil {
						return
					}
				}
			})
		}
	})
	return u
}

func (u *goUpstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.arrived)
}

func (u *goUpstream) lastArrival() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.arrived) == 0 {
		return time.Time{}
	}
	return u.arrived[len(u.arrived)-1]
}

// TestProxyFaultsBothWays: a latency fault on DIRECTION_IN delays the
// requests on their way to the upstream and not the replies; a drop on
// DIRECTION_OUT that matches some replies swallows those only; both set
// live by PATCH, on a connection that stays open.
func TestProxyFaultsBothWays(t *testing.T) {
	up := startGoUpstream(t)
	d := startDaemon(t)
	addr := createListener(t, d, fmt.Sprintf(`{"id":"pf","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_PROXY","proxy":{"upstream":%q}}`, up.ln.Addr()))
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var codec wire.Codec
	exchange := func(msg string, wait time.Duration) (string, time.Time, time.Time, error) {
		frame, _ := codec.AppendFrame(nil, []byte(msg))
		sent := time.Now()
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		f, err := codec.ReadFrame(br)
		return string(f.Body), sent, time.Now(), err
	}
	if got, _, _, err := exchange("plain", testTimeout); err != nil || got != "PLAIN" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	const delay = 300 * time.Millisecond
	if r := rest(t, d, "PATCH", "/v1/listeners/pf", `{"faults":[{"latency":{"delay":"300ms"},"direction":"DIRECTION_IN"}]}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	got, sent, back, err := exchange("slow", testTimeout)
	if err != nil || got != "SLOW" {
		t.Fatalf("with latency in: %q, %v", got, err)
	}
	arrived := up.lastArrival()
	if arrived.Sub(sent) < delay {
		t.Fatalf("the request reached the upstream %v after it was sent, want at least %v", arrived.Sub(sent), delay)
	}
	if back.Sub(arrived) > delay/2 {
		t.Fatalf("the reply took %v from the upstream, want it undelayed", back.Sub(arrived))
	}

	if r := rest(t, d, "PATCH", "/v1/listeners/pf", `{"faults":[{"drop":{},"direction":"DIRECTION_OUT","match":{"bodyPrefix":"SECRET"}}]}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if got, _, _, err := exchange("secret", 500*time.Millisecond); err == nil {
		t.Fatalf("a matching reply came through the drop: %q", got)
	}
	poll.Until(t, "the upstream got the request whose reply was dropped", func() bool { return up.requests() >= 3 })
	_ = c.SetReadDeadline(time.Time{})
	if got, _, _, err := exchange("public", testTimeout); err != nil || got != "PUBLIC" {
		t.Fatalf("a reply the drop does not match: %q, %v", got, err)
	}
	st := rest(t, d, "GET", "/v1/listeners/pf", "")
	if faults, _ := st.body["status"].(map[string]any)["faults"].([]any); len(faults) != 1 || faults[0].(map[string]any)["applied"] != "1" {
		t.Fatalf("the drop's counter: %s", st.raw)
	}
}

// TestProxyRecordReplay: a proxy that records, in front of the
// tutorial's server, is turned by the script sockctl makes of its
// recording into a script listener that answers the tutorial's client as
// the server did, with the server stopped.
func TestProxyRecordReplay(t *testing.T) {
	python := testenv.Python(t, "the tutorial's server and client")
	upstream, stopUpstream := startTutorialServer(t, python, "0")
	sockctl := buildSockctl(t)
	d := startDaemon(t)
	addr := createListener(t, d, fmt.Sprintf(`{"id":"rec","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_PROXY",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_JSON_HEADER"},"proxy":{"upstream":%q,"record":{}}}`, upstream))
	const input = "hello\nsticky packets\nhello\n"
	live := runTutorialClient(t, python, "json_header_client.py", addr, input)
	if !strings.Contains(live, "STICKY PACKETS") {
		t.Fatalf("through the proxy: %s", live)
	}
	rec := rest(t, d, "GET", "/v1/listeners/rec/recording", "")
	if ex, _ := rec.body["exchanges"].([]any); rec.status != http.StatusOK || len(ex) != 3 {
		t.Fatalf("the recording: %d %s", rec.status, rec.raw)
	}
	if got := rest(t, d, "GET", "/v1/listeners/rec", "").raw; !strings.Contains(got, `"record":{"maxExchanges":1000}`) {
		t.Fatalf("record.maxExchanges default: %s", got)
	}

	out, err := exec.Command(sockctl, "--server", d.grpcAddr(), "listeners", "recording", "rec", "--as-script").Output()
	if err != nil {
		t.Fatalf("sockctl listeners recording --as-script: %v", err)
	}
	stopUpstream()
	if r := rest(t, d, "PATCH", "/v1/listeners/rec?updateMask=handler,script,proxy", string(out)); r.status != http.StatusOK || str(r.body, "handler") != "HANDLER_SCRIPT" {
		t.Fatalf("apply the script:\n%s\n%d %s", out, r.status, r.raw)
	}
	if replayed := runTutorialClient(t, python, "json_header_client.py", addr, input); replayed != live {
		t.Fatalf("replayed without the upstream:\n%s\nlive, through it:\n%s", replayed, live)
	}
	if r := rest(t, d, "GET", "/v1/listeners/rec/recording", ""); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "records nothing") {
		t.Fatalf("the recording of a script listener: %d %s", r.status, r.raw)
	}
}

// TestProxyUDP: a UDP proxy listener in front of a UDP echo listener
// relays each peer's datagrams through a socket of its own and the
// replies back to that peer; a drop on replies that match swallows those
// only; with record, the exchanges are kept.
func TestProxyUDP(t *testing.T) {
	d := startDaemon(t)
	upstream := createListener(t, d, `{"id":"udp-real","transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_UPPER"}`)
	addr := createListener(t, d, fmt.Sprintf(`{"id":"udp-px","transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_PROXY",
		"proxy":{"upstream":%q,"record":{}},"faults":[{"drop":{},"match":{"bodyPrefix":"SECRET"}}]}`, upstream))
	if got := str(rest(t, d, "GET", "/v1/listeners/udp-px", "").body, "proxy", "transport"); got != "TRANSPORT_UDP" {
		t.Fatalf("the proxy's transport default: %q", got)
	}
	peers := make([]net.Conn, 2)
	for i := range peers {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peers[i] = c
	}
	var codec wire.Codec
	exchange := func(c net.Conn, msg string, wait time.Duration) (string, error) {
		frame, _ := codec.AppendFrame(nil, []byte(msg))
		if _, err := c.Write(frame); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 64<<10)
		n, err := c.Read(buf)
		if err != nil {
			return "", err
		}
		f, err := codec.ParseDatagram(buf[:n])
		return string(f.Body), err
	}
	for i, c := range peers {
		msg := fmt.Sprintf("peer %d", i)
		if got, err := exchange(c, msg, testTimeout); err != nil || got != strings.ToUpper(msg) {
			t.Fatalf("peer %d through the UDP proxy: %q, %v", i, got, err)
		}
	}
	if got, err := exchange(peers[0], "secret", 300*time.Millisecond); err == nil {
		t.Fatalf("a matching reply came through the drop: %q", got)
	}
	if got, err := exchange(peers[1], "again", testTimeout); err != nil || got != "AGAIN" {
		t.Fatalf("after the drop: %q, %v", got, err)
	}
	st := rest(t, d, "GET", "/v1/listeners/udp-px", "")
	if str(st.body, "status", "stats", "upstreamFramesOut") != "4" || str(st.body, "status", "stats", "upstreamFramesIn") != "4" {
		t.Fatalf("upstream counters: %s", st.raw)
	}
	rec := rest(t, d, "GET", "/v1/listeners/udp-px/recording", "")
	if ex, _ := rec.body["exchanges"].([]any); len(ex) != 4 {
		t.Fatalf("the recording: %s", rec.raw)
	}
	// Two peers, two sockets to the upstream: the upstream saw two peers.
	conns := rest(t, d, "GET", "/v1/listeners/udp-real/connections", "")
	if cs, _ := conns.body["connections"].([]any); len(cs) != 2 {
		t.Fatalf("the upstream's peers: %s", conns.raw)
	}
}

// TestProxyHalfClose: a client that finishes sending has the upstream
// read EOF, and what the upstream sends after that, then its own close,
// reach the client: half-closes pass through both ways.
func TestProxyHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		var got strings.Builder
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break // EOF: the client finished
			}
		}
		_, _ = c.Write([]byte("heard: " + got.String()))
		served <- got.String()
	}()
	d := startDaemon(t)
	addr := createListener(t, d, fmt.Sprintf(`{"id":"hc","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_PROXY",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_RAW"},"proxy":{"upstream":%q}}`, ln.Addr()))
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var reply strings.Builder
	buf := make([]byte, 1024)
	for {
		n, err := c.Read(buf)
		reply.Write(buf[:n])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("the client's read: %v", err)
			}
			break
		}
	}
	if got := <-served; got != "last words" {
		t.Fatalf("the upstream read %q", got)
	}
	if reply.String() != "heard: last words" {
		t.Fatalf("the client read %q, then EOF", reply.String())
	}
}

// TestProxyUpstreamChangesLive: a PATCH of proxy.upstream sends new
// connections to the new upstream, and open ones keep theirs.
func TestProxyUpstreamChangesLive(t *testing.T) {
	d := startDaemon(t)
	upper := createListener(t, d, `{"id":"up-upper","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_UPPER"}`)
	echo := createListener(t, d, `{"id":"up-echo","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	addr := createListener(t, d, fmt.Sprintf(`{"id":"moving","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_PROXY","proxy":{"upstream":%q}}`, upper))
	old, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	br := bufio.NewReader(old)
	var codec wire.Codec
	ask := func(msg string) string {
		frame, _ := codec.AppendFrame(nil, []byte(msg))
		_ = old.SetDeadline(time.Now().Add(testTimeout))
		if _, err := old.Write(frame); err != nil {
			t.Fatal(err)
		}
		f, err := codec.ReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		return string(f.Body)
	}
	if got := ask("before"); got != "BEFORE" {
		t.Fatalf("before the change: %q", got)
	}
	if r := rest(t, d, "PATCH", "/v1/listeners/moving", fmt.Sprintf(`{"proxy":{"upstream":%q}}`, echo)); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if got := ask("kept"); got != "KEPT" {
		t.Fatalf("the open connection after the change: %q, want its old upstream's answer", got)
	}
	if got, err := roundTrip(t, "tcp", addr, "moved"); err != nil || got != "moved" {
		t.Fatalf("a new connection after the change: %q, %v", got, err)
	}
}
