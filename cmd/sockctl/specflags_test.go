package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// parseSpecFlags registers the spec flags of create (update false) or
// update on a new flag set and parses args.
func parseSpecFlags(tb testing.TB, update bool, args ...string) (*specFlags, *pflag.FlagSet) {
	tb.Helper()
	spec := newSpecFlags(update)
	f := pflag.NewFlagSet("test", pflag.ContinueOnError)
	spec.register(f, update)
	if err := f.Parse(args); err != nil {
		tb.Fatalf("parse %q: %v", args, err)
	}
	return spec, f
}

// listenerOf decodes protojson, for the expectations of the tests.
func listenerOf(tb testing.TB, js string) *sockplanev1.Listener {
	tb.Helper()
	l := &sockplanev1.Listener{}
	if err := protojson.Unmarshal([]byte(js), l); err != nil {
		tb.Fatalf("bad expectation %s: %v", js, err)
	}
	return l
}

// TestUpdateMask: the mask of listeners update is exactly the fields of
// the flags given, and the listener carries their values.
func TestUpdateMask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		mask     string
		listener string // protojson, without the id
	}{
		// A handler other than script clears the script, which only that
		// handler takes.
		{[]string{"--handler", "upper"}, "handler,script,proxy", `{"handler": "HANDLER_UPPER"}`},
		{[]string{"--label", "env=ci", "-l", "team=web,tier="}, "labels", `{"labels": {"env": "ci", "team": "web", "tier": ""}}`},
		{[]string{"--node", "b"}, "node", `{"node": "b"}`},
		{[]string{"--label", ""}, "labels", `{}`}, // removes every label
		{[]string{"--ttl", "30s"}, "ttl", `{"ttl": "30s"}`},
		{[]string{"--transport", "udp", "--address", "127.0.0.1:9001"}, "transport,address", `{"transport": "TRANSPORT_UDP", "address": "127.0.0.1:9001"}`},
		{[]string{"--transport", "unix", "--unix-mode", "0660"}, "transport,unix_mode", `{"transport": "TRANSPORT_UNIX", "unixMode": "0660"}`},
		{[]string{"--framing", "raw"}, "framing.request,framing.response", `{"framing": {"request": "FRAMING_RAW", "response": "FRAMING_RAW"}}`},
		{[]string{"--framing", "raw", "--response-framing", "json"}, "framing.request,framing.response",
			`{"framing": {"request": "FRAMING_RAW", "response": "FRAMING_JSON_HEADER"}}`},
		{[]string{"--request-framing", "length", "--byte-order", "big"}, "framing.request,framing.byte_order",
			`{"framing": {"request": "FRAMING_LENGTH_PREFIXED", "byteOrder": "BYTE_ORDER_BIG_ENDIAN"}}`},
		{[]string{"--exec-allow", "uname,date", "--exec-timeout", "2s", "--exec-max-output", "100", "--exec-max-concurrent", "2", "--exec-dir", "/tmp"},
			"exec.allow,exec.timeout,exec.max_output_bytes,exec.max_concurrent,exec.working_dir",
			`{"exec": {"allow": ["uname", "date"], "timeout": "2s", "maxOutputBytes": 100, "maxConcurrent": 2, "workingDir": "/tmp"}}`},
		{[]string{"--handler", "exec", "--exec-timeout", "1s"}, "handler,script,proxy,exec.timeout", `{"handler": "HANDLER_EXEC", "exec": {"timeout": "1s"}}`},
		{[]string{"--capture-max-frames", "10", "--capture-max-bytes-per-frame", "64"}, "capture.max_frames,capture.max_bytes_per_frame",
			`{"capture": {"maxFrames": 10, "maxBytesPerFrame": 64}}`},
		{[]string{"--limit-max-connections", "64", "--limit-max-header-bytes", "1024", "--limit-max-body-bytes", "2048",
			"--limit-header-timeout", "1s", "--limit-idle-timeout", "0s", "--limit-allow-larger-datagram-replies"},
			"limits.max_connections,limits.max_header_bytes,limits.max_body_bytes,limits.header_timeout,limits.idle_timeout,limits.allow_larger_datagram_replies",
			`{"limits": {"maxConnections": 64, "maxHeaderBytes": 1024, "maxBodyBytes": 2048, "headerTimeout": "1s", "idleTimeout": "0s", "allowLargerDatagramReplies": true}}`},
		// A value of 0 is sent: it puts the field back to its default.
		{[]string{"--limit-max-connections", "0"}, "limits.max_connections", `{"limits": {}}`},
		{[]string{"--exec-timeout", "0"}, "exec.timeout", `{"exec": {}}`},
		{[]string{"--limit-header-timeout", "0s"}, "limits.header_timeout", `{"limits": {}}`},
		// but an idle timeout of 0s is none, not the default
		{[]string{"--limit-idle-timeout", "0"}, "limits.idle_timeout", `{"limits": {"idleTimeout": "0s"}}`},
		{[]string{"--limit-allow-larger-datagram-replies=false"}, "limits.allow_larger_datagram_replies", `{"limits": {}}`},
		// The mask follows specFlagDefs' order, not the command line's.
		{[]string{"--ttl", "1m", "--label", "a=b", "--handler", "echo"}, "handler,script,proxy,labels,ttl",
			`{"handler": "HANDLER_ECHO", "labels": {"a": "b"}, "ttl": "60s"}`},
	} {
		spec, f := parseSpecFlags(t, true, tc.args...)
		req, err := updateRequest("web", "", spec, f)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if got := strings.Join(req.GetUpdateMask().GetPaths(), ","); got != tc.mask {
			t.Errorf("%q: mask %s, want %s", tc.args, got, tc.mask)
		}
		want := listenerOf(t, tc.listener)
		want.Id = "web"
		if !proto.Equal(req.GetListener(), want) {
			t.Errorf("%q: listener %v, want %v", tc.args, req.GetListener(), want)
		}
	}
}

// TestUpdateMaskPathsAreTheContract: every path a flag sets is one the
// API's UpdateListener takes: a top-level field of Listener or one of its
// subfields.
func TestUpdateMaskPathsAreTheContract(t *testing.T) {
	t.Parallel()
	for _, d := range specFlagDefs {
		for _, p := range d.paths {
			top, sub, _ := strings.Cut(p, ".")
			f := listenerDesc.Fields().ByName(protoreflect.Name(top))
			if f == nil {
				t.Errorf("--%s: no field %s of Listener", d.name, top)
				continue
			}
			if sub != "" && (!hasSubfields(f) || f.Message().Fields().ByName(protoreflect.Name(sub)) == nil) {
				t.Errorf("--%s: no field %s of %s", d.name, sub, f.Message().FullName())
			}
		}
	}
}

func TestUpdateEtag(t *testing.T) {
	t.Parallel()
	spec, f := parseSpecFlags(t, true, "--handler", "upper")
	req, err := updateRequest("web", "abc-1", spec, f)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetListener().GetEtag() != "abc-1" || req.GetListener().GetId() != "web" {
		t.Errorf("listener %v, want id web and etag abc-1", req.GetListener())
	}
}

func TestUpdateRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "nothing to update"},
		{[]string{"--label", "env"}, `--label "env": want KEY=VALUE`},
		{[]string{"--label", "=ci"}, `--label "=ci": want KEY=VALUE`},
		{[]string{"-l", "env=ci,env=prod"}, `key "env" given twice`},
		{[]string{"--transport", "tcp", "--unix-mode", "0660"}, "--unix-mode is only for --transport unix and unixgram"},
		{[]string{"--handler", "upper", "--exec-dir", "/"}, "--exec-dir is only for --handler exec"},
	} {
		spec, f := parseSpecFlags(t, true, tc.args...)
		_, err := updateRequest("web", "", spec, f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.args, err, tc.want)
		}
	}
	// Without --handler, exec flags go: the listener may be an exec one,
	// and the daemon knows.
	spec, f := parseSpecFlags(t, true, "--exec-dir", "/")
	if _, err := updateRequest("web", "", spec, f); err != nil {
		t.Errorf("--exec-dir alone: %v", err)
	}
}

// TestCreateListenerFromFlags: create sends what it sent before the flags
// were shared with update (handler, framing and byte order always; the
// rest when given), and the new flags.
func TestCreateListenerFromFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		listener string
	}{
		{[]string{"--transport", "tcp", "--address", "127.0.0.1:0"},
			`{"transport": "TRANSPORT_TCP", "address": "127.0.0.1:0", "handler": "HANDLER_ECHO",
			  "framing": {"request": "FRAMING_JSON_HEADER", "response": "FRAMING_JSON_HEADER", "byteOrder": "BYTE_ORDER_LITTLE_ENDIAN"}}`},
		{[]string{"--transport", "unix", "--address", "/s", "--unix-mode", "0660", "--handler", "exec", "--request-framing", "raw", "--exec-allow", "uname", "--exec-timeout", "2s"},
			`{"transport": "TRANSPORT_UNIX", "address": "/s", "unixMode": "0660", "handler": "HANDLER_EXEC",
			  "framing": {"request": "FRAMING_RAW", "response": "FRAMING_JSON_HEADER", "byteOrder": "BYTE_ORDER_LITTLE_ENDIAN"},
			  "exec": {"allow": ["uname"], "timeout": "2s"}}`},
		{[]string{"--transport", "udp", "--address", "127.0.0.1:0", "-l", "env=ci", "--label", "team=web", "--ttl", "1h", "--limit-max-body-bytes", "512", "--capture-max-frames", "5"},
			`{"transport": "TRANSPORT_UDP", "address": "127.0.0.1:0", "handler": "HANDLER_ECHO",
			  "framing": {"request": "FRAMING_JSON_HEADER", "response": "FRAMING_JSON_HEADER", "byteOrder": "BYTE_ORDER_LITTLE_ENDIAN"},
			  "labels": {"env": "ci", "team": "web"}, "ttl": "3600s", "limits": {"maxBodyBytes": 512}, "capture": {"maxFrames": 5}}`},
	} {
		spec, f := parseSpecFlags(t, false, tc.args...)
		l, _, err := spec.build(createGiven(f))
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if err := spec.check(createGiven(f)); err != nil {
			t.Errorf("%q: %v", tc.args, err)
		}
		if want := listenerOf(t, tc.listener); !proto.Equal(l, want) {
			t.Errorf("%q:\n got %v\nwant %v", tc.args, l, want)
		}
	}
}

// TestBehaviourFlags: --script, --fault, --fault-seed and the listener
// TLS flags build the Listener of create and the mask of update.
func TestBehaviourFlags(t *testing.T) {
	t.Parallel()
	script := writeFile(t, "f.json", `{"rules": [{"match": {"bodyPrefix": "GET "}, "reply": {"body": "OK", "delay": "10ms"}}], "default": {"echo": true}}`)
	const scriptJSON = `{"rules": [{"match": {"bodyPrefix": "GET "}, "reply": {"body": "OK", "delay": "0.010s"}}], "default": {"echo": true}}`
	const framing = `"framing": {"request": "FRAMING_JSON_HEADER", "response": "FRAMING_JSON_HEADER", "byteOrder": "BYTE_ORDER_LITTLE_ENDIAN"}`
	t.Run("create", func(t *testing.T) {
		for _, tc := range []struct {
			args     []string
			listener string
		}{
			// --script implies --handler script.
			{[]string{"--transport", "tcp", "--address", "127.0.0.1:0", "--script", script, "--fault", "latency=50ms", "--fault", "drop,probability=0"},
				`{"transport": "TRANSPORT_TCP", "address": "127.0.0.1:0", "handler": "HANDLER_SCRIPT", ` + framing + `,
				  "script": ` + scriptJSON + `,
				  "faults": [{"latency": {"delay": "0.050s"}}, {"drop": {}, "probability": 0}]}`},
			{[]string{"--transport", "tcp", "--address", "127.0.0.1:0", "--handler", "script", "--script", script, "--fault-seed", "42",
				"--fault", "slicer=8,variation=2,delay=1ms,direction=out,name=slow,match.header.cmd=get"},
				`{"transport": "TRANSPORT_TCP", "address": "127.0.0.1:0", "handler": "HANDLER_SCRIPT", ` + framing + `,
				  "script": ` + scriptJSON + `, "faultSeed": 42,
				  "faults": [{"name": "slow", "direction": "DIRECTION_OUT", "match": {"header": {"cmd": "get"}},
				              "slicer": {"averageBytes": 8, "variationBytes": 2, "delay": "0.001s"}}]}`},
			{[]string{"--transport", "tcp", "--address", "127.0.0.1:0", "--tls-self-signed", "--tls-min-version", "1.3", "--tls-alpn", "h2,x"},
				`{"transport": "TRANSPORT_TCP", "address": "127.0.0.1:0", "handler": "HANDLER_ECHO", ` + framing + `,
				  "tls": {"selfSigned": true, "minVersion": "1.3", "alpn": ["h2", "x"]}}`},
			{[]string{"--transport", "unix", "--address", "/s", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem", "--tls-client-ca-file", "ca.pem"},
				`{"transport": "TRANSPORT_UNIX", "address": "/s", "handler": "HANDLER_ECHO", ` + framing + `,
				  "tls": {"certFile": "c.pem", "keyFile": "k.pem", "clientCaFile": "ca.pem"}}`},
		} {
			spec, f := parseSpecFlags(t, false, tc.args...)
			l, _, err := spec.build(createGiven(f))
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
				continue
			}
			if err := spec.check(createGiven(f)); err != nil {
				t.Errorf("%q: %v", tc.args, err)
			}
			if want := listenerOf(t, tc.listener); !proto.Equal(l, want) {
				t.Errorf("%q:\n got %v\nwant %v", tc.args, l, want)
			}
		}
	})
	t.Run("update", func(t *testing.T) {
		for _, tc := range []struct {
			args     []string
			mask     string
			listener string
		}{
			{[]string{"--script", script}, "handler,script,proxy", `{"handler": "HANDLER_SCRIPT", "script": ` + scriptJSON + `}`},
			{[]string{"--proxy-upstream", "127.0.0.1:6379", "--proxy-record"}, "handler,script,proxy", `{"handler": "HANDLER_PROXY", "proxy": {"upstream": "127.0.0.1:6379", "record": {}}}`},
			{[]string{"--fault", "latency=1s,match.bodyPrefix=slow"}, "faults", `{"faults": [{"latency": {"delay": "1s"}, "match": {"bodyPrefix": "slow"}}]}`},
			{[]string{"--fault", ""}, "faults", `{}`}, // removes every fault
			{[]string{"--fault-seed", "7"}, "fault_seed", `{"faultSeed": 7}`},
			{[]string{"--tls-self-signed"}, "tls.self_signed,tls.cert_file,tls.key_file", `{"tls": {"selfSigned": true}}`},
			{[]string{"--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"}, "tls.self_signed,tls.cert_file,tls.key_file", `{"tls": {"certFile": "c.pem", "keyFile": "k.pem"}}`},
			{[]string{"--tls-client-ca-file", ""}, "tls.client_ca_file", `{"tls": {}}`}, // mutual TLS off
			{[]string{"--tls-min-version", "1.3", "--tls-alpn", "h2"}, "tls.min_version,tls.alpn", `{"tls": {"minVersion": "1.3", "alpn": ["h2"]}}`},
			{[]string{"--no-tls"}, "tls", `{}`},
		} {
			spec, f := parseSpecFlags(t, true, tc.args...)
			req, err := updateRequest("web", "", spec, f)
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
				continue
			}
			if got := strings.Join(req.GetUpdateMask().GetPaths(), ","); got != tc.mask {
				t.Errorf("%q: mask %s, want %s", tc.args, got, tc.mask)
			}
			want := listenerOf(t, tc.listener)
			want.Id = "web"
			if !proto.Equal(req.GetListener(), want) {
				t.Errorf("%q: listener %v, want %v", tc.args, req.GetListener(), want)
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			update bool
			args   []string
			want   string
		}{
			{false, []string{"--transport", "tcp", "--handler", "echo", "--script", script}, "--script is only for --handler script (which it implies), not --handler echo"},
			{true, []string{"--handler", "upper", "--script", script}, "--script is only for --handler script"},
			{false, []string{"--transport", "tcp", "--script", "/nonexistent.json"}, "--script: open /nonexistent.json"},
			{false, []string{"--transport", "tcp", "--fault", "latency=1s", "--fault", "latency=1s,jiter=2ms"}, `--fault "latency=1s,jiter=2ms": unknown key "jiter"`},
			{false, []string{"--transport", "udp", "--tls-self-signed"}, "--tls-self-signed is only for --transport tcp and unix"},
			{false, []string{"--transport", "unixgram", "--address", "/s", "--tls-alpn", "h2"}, "--tls-alpn is only for --transport tcp and unix"},
			{false, []string{"--transport", "tcp", "--tls-self-signed", "--tls-cert-file", "c.pem"}, "--tls-self-signed cannot go with --tls-cert-file"},
			{true, []string{"--no-tls", "--tls-min-version", "1.3"}, "--no-tls cannot go with --tls-min-version"},
		} {
			spec, f := parseSpecFlags(t, tc.update, tc.args...)
			var err error
			if tc.update {
				_, err = updateRequest("web", "", spec, f)
			} else if _, _, err = spec.build(createGiven(f)); err == nil {
				err = spec.check(createGiven(f))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
			}
		}
	})
}
