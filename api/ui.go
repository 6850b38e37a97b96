package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/sockplane/sockplane/ui"
)

// The web dashboard (package ui) is served on the HTTP port:
//
//	GET /ui/static/NAME  the file static/NAME of package ui; 404 when there is none
//	GET /ui/...          anything else under /ui/: index.html, the app, which
//	                     routes by the path itself (/ui/listeners/{id} is a
//	                     link anyone can share)
//	GET /ui              redirect to /ui/
//	GET /                redirect to /ui/, for a browser (a request that
//	                     accepts text/html); any other client gets the
//	                     REST API's answer, as before
//
// Only GET and HEAD; other methods are 405. Every answer says
// Content-Security-Policy: default-src 'self' (no inline script or style,
// nothing from another origin: the page's files are all here) and
// X-Content-Type-Options: nosniff, and is not cached without asking again
// (the files change with the binary; their ETag makes asking cheap).
//
// The dashboard's files are the same in every sockplane binary and show
// nothing of the daemon, so the token guard lets them through (uiPublic):
// a browser cannot put a bearer header on a page load, and the page asks
// for the token when the API answers 401. The Host check still applies.

const (
	uiPrefix       = "/ui/"
	uiStaticPrefix = "/ui/static/"
	// uiCSP lets the page load its own scripts, styles and images and
	// fetch its own origin's API, and nothing else.
	uiCSP = "default-src 'self'"
)

// uiPath reports whether path is the dashboard's.
func uiPath(path string) bool {
	return path == "/ui" || strings.HasPrefix(path, uiPrefix)
}

// uiRoute reports whether r goes to the dashboard's handler: a path of
// the dashboard, or a browser's GET or HEAD of /.
func uiRoute(r *http.Request) bool {
	return uiPath(r.URL.Path) || (r.URL.Path == "/" && readOnly(r) && acceptsHTML(r))
}

// uiPublic reports whether r may go without the token: a GET or HEAD
// that the dashboard's handler answers with its own files or a redirect.
func uiPublic(r *http.Request) bool {
	return readOnly(r) && uiRoute(r)
}

func readOnly(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// acceptsHTML reports whether the request's Accept header names
// text/html, as a browser's page load does.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mediaType == "text/html" {
				return true
			}
		}
	}
	return false
}

// uiFile is one embedded file, ready to serve.
type uiFile struct {
	content     []byte
	contentType string
	etag        string
}

// uiTypes are the media types of the dashboard's files, by extension:
// stated here rather than taken from the system's mime tables, because a
// module script must be served as JavaScript and nosniff lets no guess
// fix a wrong type.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

type uiHandler struct {
	index  uiFile
	static map[string]uiFile // by name under static/, e.g. "app.js"
}

// newUIHandler reads the embedded files once. A file missing from the
// embed is a build mistake, so it panics, as a bad embed pattern would
// fail the build.
func newUIHandler() http.Handler {
	h := &uiHandler{static: map[string]uiFile{}}
	load := func(name string) uiFile {
		b, err := fs.ReadFile(ui.Files, name)
		if err != nil {
			panic("api: the dashboard's " + name + " is not embedded: " + err.Error())
		}
		sum := sha256.Sum256(b)
		ct := uiTypes[path.Ext(name)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		return uiFile{content: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	h.index = load("index.html")
	err := fs.WalkDir(ui.Files, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		h.static[strings.TrimPrefix(name, "static/")] = load(name)
		return nil
	})
	if err != nil {
		panic("api: reading the dashboard's files: " + err.Error())
	}
	return h
}

func (h *uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", uiCSP)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	if !readOnly(r) {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/ui":
		target := uiPrefix
		if p == "/ui" && r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		hdr.Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusFound)
	case strings.HasPrefix(p, uiStaticPrefix):
		f, ok := h.static[strings.TrimPrefix(p, uiStaticPrefix)]
		if !ok {
			hdr.Set("Cache-Control", "no-store")
			http.Error(w, "no such file of the dashboard: "+p, http.StatusNotFound)
			return
		}
		serveUIFile(w, r, f)
	default:
		serveUIFile(w, r, h.index)
	}
}

// serveUIFile answers with f; http.ServeContent handles HEAD, ranges and
// If-None-Match against the ETag.
func serveUIFile(w http.ResponseWriter, r *http.Request, f uiFile) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.content))
}
