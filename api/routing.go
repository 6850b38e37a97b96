package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A method on an API path that the path does not take is answered 405
// Method Not Allowed with an Allow header, as HTTP says (RFC 9110,
// 15.5.6), instead of the gateway's 501. The gateway's mux knows which
// methods a path takes but does not tell: it says only that some other
// method's route matched. So the methods are found by asking the mux
// itself, once per refused request: the request's path is routed again
// with each method, as a probe that a middleware (routeProbe) stops as
// soon as a route matches, before the route's handler runs. The answer
// therefore follows the routes the gateway registered, whatever they
// become, with no table to keep in step.

// probeMethods are the methods a probe tries, in the order Allow lists
// them: HTTP's (RFC 9110, section 9, and PATCH, RFC 5789). The methods a
// route of the REST mapping can have (google.api.HttpRule: get, put,
// post, delete, patch) are among them; a "custom" rule's method would
// not be, and would be missing from Allow.
var probeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect,
}

// probeKey is the context key of a routing probe: a *routeMatch. Only
// this package can make one, so no request from outside is a probe.
type probeKey struct{}

// routeMatch is set when a probe reached a route.
type routeMatch struct{ matched bool }

// routeProbe is a gateway middleware (it runs once the mux has picked a
// route, before the route's handler): for a probe it records the match
// and stops; any other request goes on untouched.
func routeProbe(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if m, ok := r.Context().Value(probeKey{}).(*routeMatch); ok {
			m.matched = true
			return
		}
		next(w, r, params)
	}
}

// allowedMethods returns the methods mux routes path to, by probing.
func allowedMethods(ctx context.Context, mux *runtime.ServeMux, r *http.Request) []string {
	var allowed []string
	for _, method := range probeMethods {
		match := &routeMatch{}
		probe := &http.Request{
			Method:     method,
			URL:        r.URL,
			Proto:      r.Proto,
			ProtoMajor: r.ProtoMajor,
			ProtoMinor: r.ProtoMinor,
			Header:     http.Header{}, // none of the request's: no method override, no fallback
			Body:       http.NoBody,
			Host:       r.Host,
			RequestURI: r.RequestURI,
		}
		mux.ServeHTTP(discardWriter{}, probe.WithContext(context.WithValue(ctx, probeKey{}, match)))
		if match.matched {
			allowed = append(allowed, method)
		}
	}
	return allowed
}

// routingError is the gateway's routing error handler: 405 with Allow
// for a method the path does not take; the gateway's own answer to the
// others (404 for a path it does not have, 400 for a malformed one).
// Every answer has the API's error shape, {"code", "message", "details"}.
func routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if _, ok := ctx.Value(probeKey{}).(*routeMatch); ok {
		return // a probe that matched no route of its method: it answers nobody
	}
	if httpStatus != http.StatusMethodNotAllowed {
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
		return
	}
	allow := strings.Join(allowedMethods(ctx, mux, r), ", ")
	w.Header().Set("Allow", allow)
	if allow == "" {
		allow = "none of the methods tried" // a route of a custom method only
	}
	// UNIMPLEMENTED, the code the gateway gives a wrong method; the HTTP
	// status is the one HTTP has for it.
	st := status.New(codes.Unimplemented, fmt.Sprintf("method %s is not allowed on %s: it takes %s", r.Method, r.URL.Path, allow))
	runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: st.Err()})
}

// discardWriter is the ResponseWriter of a probe: nothing is sent.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}
