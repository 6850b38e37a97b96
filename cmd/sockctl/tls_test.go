package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/testcert"
)

// createTLSListener creates a listener with sockctl listeners create and
// the flags given, and returns it as the daemon answered.
func createTLSListener(tb testing.TB, server string, args ...string) *sockplanev1.Listener {
	tb.Helper()
	var l sockplanev1.Listener
	unmarshal(tb, mustSockctl(tb, append([]string{"listeners", "create", "--server", server, "-o", "json"}, args...)...), &l)
	if l.GetStatus().GetState() != sockplanev1.State_STATE_RUNNING {
		tb.Fatalf("created %v, not running", &l)
	}
	return &l
}

// certificateFile writes the certificate a TLS listener serves to a file,
// as a user does with jq -r .status.tls.certificatePem.
func certificateFile(tb testing.TB, l *sockplanev1.Listener) string {
	tb.Helper()
	pem := l.GetStatus().GetTls().GetCertificatePem()
	if !strings.Contains(pem, "BEGIN CERTIFICATE") {
		tb.Fatalf("listener %s has no status.tls.certificatePem: %v", l.GetId(), l.GetStatus())
	}
	return writeFile(tb, l.GetId()+".pem", pem)
}

// wantError runs sockctl, which must fail with an error that says each
// of want.
func wantError(tb testing.TB, stdin string, want []string, args ...string) {
	tb.Helper()
	out, _, err := sockctl(tb, stdin, args...)
	if err == nil {
		tb.Errorf("sockctl %s: no error, printed %q", strings.Join(args, " "), out)
		return
	}
	tb.Logf("sockctl %s: %v", strings.Join(args, " "), err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			tb.Errorf("sockctl %s: error %q does not say %q", strings.Join(args, " "), err, w)
		}
	}
}

// TestSendTLS talks to a self-signed TLS listener of the daemon with each
// way of trusting it, and is refused with each way of not.
func TestSendTLS(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	l := createTLSListener(t, server, "--id", "tls-web", "--transport", "tcp", "--tls-self-signed")
	addr, pem := l.GetStatus().GetBoundAddress(), certificateFile(t, l)
	fp := l.GetStatus().GetTls().GetFingerprintSha256()
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, strings.ToUpper(fp[i:i+2]))
	}
	wrong := strings.Repeat("0", 64)

	for _, flags := range [][]string{
		{"--tls-ca", pem},
		{"--tls", "--tls-ca", pem},
		{"--tls-ca", pem, "--tls-server-name", "localhost"},
		{"--tls-pin", fp},
		{"--tls-pin", strings.Join(colons, ":")}, // as openssl x509 -fingerprint prints it
		{"--tls-pin", fp, "--tls-ca", pem},       // both: pinned and chained
		{"--tls-pin", fp, "--tls-server-name", "any.example"},
		{"--insecure"},
	} {
		args := append(append([]string{"send"}, flags...), addr, "hello", "world")
		if out, _, err := sockctl(t, "", args...); err != nil || out != "hello\nworld\n" {
			t.Errorf("send %s: %q, %v", strings.Join(flags, " "), out, err)
		}
	}
	// The flags may come before the command, as the daemon's do: send's
	// own --tls-ca still takes them.
	if out := mustSockctl(t, "--tls-ca", pem, "send", addr, "first"); out != "first\n" {
		t.Errorf("--tls-ca before send: %q", out)
	}
	if out, _, err := sockctl(t, "hi\n", "chat", "--tls-ca", pem, addr); err != nil || !strings.Contains(out, "hi\n") {
		t.Errorf("chat --tls-ca: %q, %v", out, err)
	}

	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--tls-pin", wrong}, []string{"TLS handshake with " + addr, "SHA-256 " + fp, "not the --tls-pin " + wrong}},
		{[]string{"--tls-pin", wrong, "--tls-ca", pem}, []string{"not the --tls-pin"}},
		{[]string{"--tls-pin", "abc"}, []string{`--tls-pin "abc"`, "64 hex digits"}},
		{[]string{"--tls"}, []string{"TLS handshake with " + addr, "certificate", "pass --tls-ca FILE"}}, // the system does not trust it
		{[]string{"--tls-ca", pem, "--tls-server-name", "other.example"}, []string{"other.example", "pass --tls-server-name"}},
		{nil, []string{addr, "if the listener speaks TLS, pass --tls"}}, // plaintext to a TLS listener
		{[]string{"--tls-ca", pem, "--udp"}, []string{"cannot go with --udp"}},
		{[]string{"--insecure", "--tls-pin", fp}, []string{"--insecure verifies nothing: it cannot go with --tls-ca or --tls-pin"}},
		{[]string{"--insecure", "--tls-ca", pem}, []string{"--insecure verifies nothing"}},
		{[]string{"--tls=false", "--tls-ca", pem}, []string{"--tls=false cannot go with --tls-ca"}},
		{[]string{"--tls-ca", filepath.Join(t.TempDir(), "none.pem")}, []string{"--tls-ca", "no such file"}},
		{[]string{"--tls-cert", pem}, []string{"--tls-cert and --tls-key go together"}},
	} {
		wantError(t, "", tc.want, append(append([]string{"send"}, tc.flags...), addr, "hello")...)
	}
	wantError(t, "", []string{"cannot go with --unixgram"}, "chat", "--insecure", "--unixgram", filepath.Join(t.TempDir(), "d.sock"))

	// A TLS client to a plaintext listener is told so.
	plain := createTLSListener(t, server, "--id", "plain", "--transport", "tcp")
	wantError(t, "", []string{"TLS handshake with", "does it speak TLS?"}, "send", "--insecure", plain.GetStatus().GetBoundAddress(), "hello")

	// The table shows TLS, and get the fingerprint.
	if r := row(t, mustSockctl(t, "listeners", "list", "--server", server), "tls-web"); r[1] != "tcp+tls" {
		t.Errorf("list: TRANSPORT %s, want tcp+tls", r[1])
	}
	if out := mustSockctl(t, "listeners", "get", "tls-web", "--server", server); !strings.Contains(out, "\ntls:      sha256 "+fp+"  expires ") {
		t.Errorf("get does not show the fingerprint:\n%s", out)
	}
}

// TestSendTLSUnix: TLS over a Unix stream socket, checked against
// localhost, which the self-signed certificate holds.
func TestSendTLSUnix(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	path := socketPath(t)
	l := createTLSListener(t, server, "--id", "tls-unix", "--transport", "unix", "--address", path, "--tls-self-signed", "--tls-min-version", "1.3")
	pem := certificateFile(t, l)
	if out := mustSockctl(t, "send", "--tls-ca", pem, "--unix", path, "hello"); out != "hello\n" {
		t.Errorf("send --unix --tls-ca: %q", out)
	}
	if out := mustSockctl(t, "send", "--tls-pin", l.GetStatus().GetTls().GetFingerprintSha256(), "--unix", path, "hello"); out != "hello\n" {
		t.Errorf("send --unix --tls-pin: %q", out)
	}
	wantError(t, "", []string{"if the listener speaks TLS, pass --tls"}, "send", "--unix", path, "hello")
}

// TestSendMutualTLS: a listener with --tls-client-ca-file serves the
// client certificate of --tls-cert and --tls-key, shows its subject in
// connections list, and refuses a client without one.
func TestSendMutualTLS(t *testing.T) {
	t.Parallel()
	certs := testcert.New(t)
	server, _ := startDaemon(t)
	l := createTLSListener(t, server, "--id", "mtls", "--transport", "tcp",
		"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey, "--tls-client-ca-file", certs.CA)
	addr := l.GetStatus().GetBoundAddress()
	if out := mustSockctl(t, "send", "--tls-ca", certs.CA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey, addr, "hello"); out != "hello\n" {
		t.Errorf("send with a client certificate: %q", out)
	}
	wantError(t, "", []string{"if the listener requires a client certificate, pass --tls-cert and --tls-key"}, "send", "--tls-ca", certs.CA, addr, "hello")
	wantError(t, "", []string{"certificate", "pass --tls-ca"}, "send", "--tls-ca", certs.OtherCA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey, addr, "hello")

	// A connection kept open shows its client's subject.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, certs.ClientTLS(t, true))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{tb: t, conn: conn, br: bufio.NewReader(conn)}
	if got := c.roundTrip("hi"); got != "hi" {
		t.Fatalf("echo over mutual TLS: %q", got)
	}
	out := mustSockctl(t, "connections", "list", "mtls", "--server", server)
	if rows := tableRows(out); len(rows) != 2 || !strings.Contains(rows[0][len(rows[0])-1], "CERT") || !strings.Contains(out, "sockctl-test") {
		t.Errorf("connections list does not show the client certificate's subject:\n%s", out)
	}
}

// TestDaemonAndListenerTLSFlags: one name, two meanings. The root's
// --tls-ca, --tls-cert and --tls-key secure the connection to a daemon
// with mutual TLS for listeners create; on send and bench the same names
// are the listener's TLS, and the daemon's values do not leak into them.
func TestDaemonAndListenerTLSFlags(t *testing.T) {
	t.Setenv(tokenEnv, "")
	certs := testcert.New(t)
	daemon := startSecureDaemon(t, &certs)
	daemonFlags := []string{"--server", daemon, "--token", testToken, "--tls-ca", certs.CA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}
	var l sockplanev1.Listener
	unmarshal(t, mustSockctl(t, append(daemonFlags, "listeners", "create", "--id", "both", "--transport", "tcp", "--tls-self-signed", "-o", "json")...), &l)
	addr, pem := l.GetStatus().GetBoundAddress(), certificateFile(t, &l)
	if out := mustSockctl(t, append(daemonFlags, "listeners", "list")...); !strings.Contains(out, "both") || !strings.Contains(out, "tcp+tls") {
		t.Errorf("list through the daemon's TLS:\n%s", out)
	}
	// The daemon's CA does not sign the listener's certificate: with it,
	// send fails; with the listener's certificate, it works, and so do
	// the daemon's flags given besides (the root command's --server and
	// --token, which send ignores).
	wantError(t, "", []string{"TLS handshake with " + addr}, "send", "--tls-ca", certs.CA, addr, "hello")
	if out := mustSockctl(t, "--server", daemon, "--token", testToken, "send", "--tls-ca", pem, addr, "hello"); out != "hello\n" {
		t.Errorf("send --tls-ca: %q", out)
	}
	if r, err := benchJSON(t, "--tls-ca", pem, addr); err != nil || r.Errors != 0 || r.Messages == 0 || r.Transport != "tcp+tls" {
		t.Errorf("bench --tls-ca: %+v, %v", r, err)
	}

	// Help says which TLS each command's flags are.
	help := mustSockctl(t, "send", "--help")
	if !strings.Contains(help, "to verify the listener with") || strings.Contains(help, "verify the daemon with") {
		t.Errorf("send --help does not describe --tls-ca as the listener's:\n%s", help)
	}
	if help := mustSockctl(t, "listeners", "list", "--help"); !strings.Contains(help, "verify the daemon with") {
		t.Errorf("listeners list --help lost the daemon's --tls-ca:\n%s", help)
	}
}

// TestBenchTLS: bench speaks TLS with each way of trusting the listener,
// and refuses TLS over UDP.
func TestBenchTLS(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	l := createTLSListener(t, server, "--id", "tls-bench", "--transport", "tcp", "--tls-self-signed", "--handler", "upper")
	addr := l.GetStatus().GetBoundAddress()
	for _, flags := range [][]string{
		{"--insecure", "--conns", "2", "--depth", "4"},
		{"--tls-pin", l.GetStatus().GetTls().GetFingerprintSha256()},
	} {
		r, err := benchJSON(t, append(append(flags, "--expect", "upper"), addr)...)
		if err != nil || r.Errors != 0 || r.Messages == 0 || r.Transport != "tcp+tls" {
			t.Errorf("bench %s: %+v, %v", strings.Join(flags, " "), r, err)
		}
	}
	wantError(t, "", []string{"cannot go with --udp"}, "bench", "--tls", "--udp", addr)
	wantError(t, "", []string{"connection 1 of 1", "TLS handshake", "not the --tls-pin"}, "bench", "--duration", "100ms", "--tls-pin", strings.Repeat("ab", 32), addr)
}

// TestScriptAndFaultsFromFlags creates a script listener with faults from
// the command line, talks to it, reads its counters in get, and changes
// its behaviour live with update.
func TestScriptAndFaultsFromFlags(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	script := writeFile(t, "mock.yaml", `
greeting: {body: "220 ready"}
rules:
  - match: {bodyPrefix: "GET "}
    reply: {body: OK}
  - match: {bodyEquals: bye}
    reply: {body: BYE, then: THEN_CLOSE}
default: {echo: true}
`)
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }
	var l sockplanev1.Listener
	unmarshal(t, ctl("listeners", "create", "--id", "mock", "--transport", "tcp", "--framing", "raw", "-o", "json", "--script", script,
		"--fault", "latency=50ms,match.bodyPrefix=slow", "--fault", "drop,probability=0", "--fault-seed", "42"), &l)
	if l.GetHandler() != sockplanev1.Handler_HANDLER_SCRIPT || l.GetScript().GetGreeting().GetBody() != "220 ready" || len(l.GetScript().GetRules()) != 2 ||
		len(l.GetFaults()) != 2 || l.GetFaults()[0].GetLatency().GetDelay().AsDuration() != 50*time.Millisecond ||
		l.GetFaults()[1].GetDrop() == nil || l.GetFaults()[1].Probability == nil || l.GetFaults()[1].GetProbability() != 0 || l.GetFaultSeed() != 42 {
		t.Fatalf("created %v", &l)
	}
	addr := l.GetStatus().GetBoundAddress()

	// The greeting comes first; then the rules and the default answer.
	c := dialRaw(t, addr)
	if got := readRaw(t, c.conn, len("220 ready")); got != "220 ready" {
		t.Fatalf("greeting %q", got)
	}
	for req, want := range map[string]string{"GET /": "OK", "hello": "hello"} {
		if _, err := c.conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if got := readRaw(t, c.conn, len(want)); got != want {
			t.Errorf("%q answered %q, want %q", req, got, want)
		}
	}
	// Only a matching frame is slowed.
	start := time.Now()
	if _, err := c.conn.Write([]byte("slow")); err != nil {
		t.Fatal(err)
	}
	if got := readRaw(t, c.conn, 4); got != "slow" || time.Since(start) < 50*time.Millisecond {
		t.Errorf("slow answered %q after %v, want it after 50ms at least", got, time.Since(start))
	}
	c.conn.Close()

	out := ctl("listeners", "get", "mock")
	for _, want := range []string{"\nscript:   rule hits 1 0  default 2  unmatched 0\n", "\nfaults:   applied latency-0 1, drop-1 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("get does not show %q:\n%s", want, out)
		}
	}

	// Live: the faults go, the handler changes (and the script with it),
	// then TLS comes.
	ctl("listeners", "update", "mock", "--fault", "")
	ctl("listeners", "update", "mock", "--handler", "upper")
	got := getListener(t, server, "mock")
	if got.GetHandler() != sockplanev1.Handler_HANDLER_UPPER || got.GetScript() != nil || len(got.GetFaults()) != 0 {
		t.Errorf("after the updates: %v", got)
	}
	unmarshal(t, ctl("listeners", "update", "mock", "--tls-self-signed", "-o", "json"), &l)
	if out := mustSockctl(t, "send", "--framing", "raw", "--tls-ca", certificateFile(t, &l), l.GetStatus().GetBoundAddress(), "hello"); out != "HELLO\n" {
		t.Errorf("send after update --tls-self-signed: %q", out)
	}
	unmarshal(t, ctl("listeners", "update", "mock", "--no-tls", "-o", "json"), &l)
	if l.GetTls() != nil {
		t.Errorf("after --no-tls: %v", l.GetTls())
	}
	if out := mustSockctl(t, "send", "--framing", "raw", l.GetStatus().GetBoundAddress(), "hello"); out != "HELLO\n" {
		t.Errorf("send after update --no-tls: %q", out)
	}
}

// readRaw reads exactly n bytes from conn within the test's timeout.
func readRaw(tb testing.TB, conn net.Conn, n int) string {
	tb.Helper()
	buf := make([]byte, n)
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	for got := 0; got < n; {
		k, err := conn.Read(buf[got:])
		if err != nil {
			tb.Fatalf("read %d of %d bytes: %v (got %q)", got, n, err, buf[:got])
		}
		got += k
	}
	return string(buf)
}

// TestDetailsGolden: the lines under the table of one listener.
func TestDetailsGolden(t *testing.T) {
	t.Parallel()
	l := &sockplanev1.Listener{
		Id: "mock", Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0", Handler: sockplanev1.Handler_HANDLER_SCRIPT,
		Tls: &sockplanev1.TlsOptions{SelfSigned: true},
		Status: &sockplanev1.ListenerStatus{
			State: sockplanev1.State_STATE_RUNNING, BoundAddress: "127.0.0.1:9443", Stats: &sockplanev1.ListenerStats{FramesIn: 9, FramesOut: 8},
			Tls: &sockplanev1.TlsStatus{
				FingerprintSha256: "3f2a" + strings.Repeat("0", 56) + "00e9",
				NotAfter:          ago(-365 * 24 * time.Hour),
			},
			Script: &sockplanev1.ScriptStatus{RuleHits: []uint64{4, 0, 3}, DefaultHits: 1, Unmatched: 1},
			Faults: []*sockplanev1.FaultStatus{{Name: "latency-0", Applied: 7}, {Name: "lossy", Applied: 0}},
		},
	}
	var b strings.Builder
	p := printer{w: &b, format: outputTable, loc: time.UTC}
	if err := p.listeners(l); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- no rules, no TLS status\n")
	l.Status.Tls, l.Status.Faults = nil, nil
	l.Status.Script = &sockplanev1.ScriptStatus{DefaultHits: 2}
	if err := p.listeners(l); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- two listeners: the table alone\n")
	if err := p.listeners(l, l); err != nil {
		t.Fatal(err)
	}
	golden(t, "details.golden", b.String())
}

func TestDefaultServerName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp", "127.0.0.1:9000", "127.0.0.1"},
		{"tcp", "[::1]:9000", "::1"},
		{"tcp", "example.com:443", "example.com"},
		{"tcp", ":9000", "localhost"},
		{"unix", "/tmp/s.sock", "localhost"},
	} {
		if got := defaultServerName(tc.network, tc.addr); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.network, tc.addr, got, tc.want)
		}
	}
}
