package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// bodyLen answers 200 with the length of the body it read, so a test sees
// that a request got through the guard, and with all of its body.
var bodyLen = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
})

// guardRequest is one request to a guarded server.
type guardRequest struct {
	method, path string
	host         string            // "": the server's address
	header       map[string]string // e.g. Content-Type, Authorization
	body         io.Reader         // nil: none; not a *strings.Reader: chunked
	length       int64             // Content-Length, when body is set and not chunked
}

func doGuard(t *testing.T, srv *httptest.Server, gr guardRequest) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, gr.method, srv.URL+gr.path, gr.body)
	if err != nil {
		t.Fatal(err)
	}
	if gr.body != nil {
		req.ContentLength = gr.length // 0 with a body: chunked
	}
	if gr.host != "" {
		req.Host = gr.host
	}
	for k, v := range gr.header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", gr.method, gr.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// wantGuardError checks a refusal: its HTTP status, and the JSON body in
// the gateway's shape with the gRPC code.
func wantGuardError(t *testing.T, what string, r reply, status int, code codes.Code, msgPart string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (%s)", what, r.status, status, r.body)
		return
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []any  `json:"details"`
	}
	// Code is decoded as a number, as the gateway writes it, then compared
	// as a codes.Code: codes.Code's own UnmarshalJSON would also take a name.
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || codes.Code(e.Code) != code || e.Details == nil {
		t.Errorf("%s: body %q (%v), want {code: %d (%v), message, details: []}", what, r.body, err, code, code)
	}
	if !strings.Contains(e.Message, msgPart) {
		t.Errorf("%s: message %q, want it to say %q", what, e.Message, msgPart)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

func wantPassed(t *testing.T, what string, r reply, bodyLen int) {
	t.Helper()
	if r.status != http.StatusOK || r.body != strconv.Itoa(bodyLen) {
		t.Errorf("%s: %d %q, want 200 and a body of %d bytes read", what, r.status, r.body, bodyLen)
	}
}

func TestHTTPGuardHost(t *testing.T) {
	srv := httptest.NewServer(NewHTTPGuard(HTTPGuardConfig{LoopbackOnly: true, ExtraHosts: []string{"Sockplane.Internal"}}, bodyLen))
	defer srv.Close()
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	for _, host := range []string{"", "localhost:" + port, "LOCALHOST:" + port, "localhost", "127.0.0.1:" + port, "127.1.2.3", "[::1]:" + port, "[::1]", "sockplane.internal:" + port} {
		wantPassed(t, "Host "+host, doGuard(t, srv, guardRequest{method: "GET", path: "/v1/listeners", host: host}), 0)
	}
	for _, host := range []string{"evil.example", "evil.example:" + port, "localhost.evil.example", "127.0.0.1.evil.example", "10.0.0.1:" + port, "[::2]:" + port, "0.0.0.0:" + port} {
		// The probes too: a rebound page must not learn even that.
		for _, path := range []string{"/v1/listeners", "/healthz"} {
			wantGuardError(t, "Host "+host+" "+path, doGuard(t, srv, guardRequest{method: "GET", path: path, host: host}), http.StatusForbidden, codes.PermissionDenied, "not a loopback name")
		}
	}

	// Bound elsewhere, the daemon answers to any name.
	open := httptest.NewServer(NewHTTPGuard(HTTPGuardConfig{}, bodyLen))
	defer open.Close()
	wantPassed(t, "Host evil.example without LoopbackOnly", doGuard(t, open, guardRequest{method: "GET", path: "/", host: "evil.example"}), 0)
}

func TestHTTPGuardToken(t *testing.T) {
	srv := httptest.NewServer(NewHTTPGuard(HTTPGuardConfig{Auth: NewTokenAuth(testToken), LoopbackOnly: true}, bodyLen))
	defer srv.Close()
	get := func(path, auth string) reply {
		gr := guardRequest{method: "GET", path: path}
		if auth != "" {
			gr.header = map[string]string{"Authorization": auth}
		}
		return doGuard(t, srv, gr)
	}
	for _, path := range []string{"/v1/listeners", "/v1/events", "/metrics", "/openapi.json", "/"} {
		r := get(path, "")
		wantGuardError(t, path+" without a token", r, http.StatusUnauthorized, codes.Unauthenticated, "Bearer <token>")
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="sockplane"` {
			t.Errorf("%s without a token: WWW-Authenticate %q", path, got)
		}
		r = get(path, "Bearer wrong")
		wantGuardError(t, path+" with a wrong token", r, http.StatusUnauthorized, codes.Unauthenticated, "invalid bearer token")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) || strings.Contains(r.body, "wrong") {
			t.Errorf("%s with a wrong token: WWW-Authenticate %q, body %q (must not echo the token)", path, got, r.body)
		}
		r = get(path, "Basic Zm9vOmJhcg==")
		wantGuardError(t, path+" with basic auth", r, http.StatusUnauthorized, codes.Unauthenticated, "not a bearer token")
		wantPassed(t, path+" with the token", get(path, "Bearer "+testToken), 0)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		wantPassed(t, path+" without a token", get(path, ""), 0)
	}
	// Host first: a rebound page learns nothing, not even that a token is set.
	wantGuardError(t, "Host evil.example without a token", doGuard(t, srv, guardRequest{method: "GET", path: "/v1/listeners", host: "evil.example"}),
		http.StatusForbidden, codes.PermissionDenied, "not a loopback name")
}

func TestHTTPGuardContentType(t *testing.T) {
	srv := httptest.NewServer(NewHTTPGuard(HTTPGuardConfig{}, bodyLen))
	defer srv.Close()
	const body = `{"id":"x"}`
	post := func(contentType string, chunked bool) reply {
		gr := guardRequest{method: "POST", path: "/v1/listeners", body: strings.NewReader(body), length: int64(len(body))}
		if chunked {
			gr.body, gr.length = io.MultiReader(strings.NewReader(body)), 0
		}
		if contentType != "" {
			gr.header = map[string]string{"Content-Type": contentType}
		}
		return doGuard(t, srv, gr)
	}
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx", "application/json; =bad"} {
		for _, chunked := range []bool{false, true} {
			wantGuardError(t, "body of type "+ct, post(ct, chunked), http.StatusUnsupportedMediaType, codes.InvalidArgument, "application/json")
		}
	}
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8"} {
		for _, chunked := range []bool{false, true} {
			wantPassed(t, "body of type "+ct, post(ct, chunked), len(body))
		}
	}
	// No body, whatever the type: POST :stop with nothing, and GETs.
	wantPassed(t, "POST without a body", doGuard(t, srv, guardRequest{method: "POST", path: "/v1/listeners/x:stop"}), 0)
	wantPassed(t, "POST without a body, text/plain", doGuard(t, srv, guardRequest{method: "POST", path: "/v1/listeners/x:stop", header: map[string]string{"Content-Type": "text/plain"}}), 0)
}

func TestHTTPGuardBodySize(t *testing.T) {
	srv := httptest.NewServer(NewHTTPGuard(HTTPGuardConfig{}, bodyLen))
	defer srv.Close()
	jsonHeader := map[string]string{"Content-Type": "application/json"}
	post := func(n int, chunked bool) reply {
		body := strings.Repeat(" ", n)
		gr := guardRequest{method: "POST", path: "/v1/listeners", header: jsonHeader, body: strings.NewReader(body), length: int64(n)}
		if chunked {
			gr.body, gr.length = io.MultiReader(strings.NewReader(body)), 0
		}
		return doGuard(t, srv, gr)
	}
	for _, chunked := range []bool{false, true} {
		what := "Content-Length"
		if chunked {
			what = "chunked"
		}
		wantPassed(t, what+" 1 MiB", post(MaxRequestBody, chunked), MaxRequestBody)
		wantGuardError(t, what+" 1 MiB + 1", post(MaxRequestBody+1, chunked), http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "1048576 bytes")
		wantGuardError(t, what+" 3 MiB", post(3*MaxRequestBody, chunked), http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "1048576 bytes")
	}

	small := httptest.NewServer(NewHTTPGuard(HTTPGuardConfig{MaxBodyBytes: 10}, bodyLen))
	defer small.Close()
	wantPassed(t, "10 of MaxBodyBytes 10", doGuard(t, small, guardRequest{method: "PUT", path: "/", header: jsonHeader, body: strings.NewReader("0123456789"), length: 10}), 10)
	wantGuardError(t, "11 of MaxBodyBytes 10", doGuard(t, small, guardRequest{method: "PUT", path: "/", header: jsonHeader, body: strings.NewReader("0123456789a"), length: 11}),
		http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "over 10 bytes")
}
