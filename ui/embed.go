// Package ui is sockplane's web dashboard: hand-written HTML, CSS and
// JavaScript modules, embedded in the binary and served by package api at
// /ui/ (api/ui.go). There is no build step: the files of this directory
// are the files a browser gets, and they need nothing from the network.
//
// The page talks only to the public REST API (/v1/...) and the event
// stream (/v1/events), with the same guards as any other client: JSON
// bodies, the Host check, and the bearer token, which it asks for when
// the API answers 401 and keeps in sessionStorage.
//
// Layout:
//
//	index.html          the page, for every path under /ui/
//	static/app.css      every style (the Content-Security-Policy allows no inline ones)
//	static/app.js       start-up and routing: /ui/ is the listeners, /ui/listeners/{id} one listener
//	static/api.js       fetch of the REST API: the token, errors, the 401 prompt
//	static/events.js    the NDJSON event stream, read with fetch and a ReadableStream
//	static/dom.js       element builders: untrusted text only ever goes in as text nodes
//	static/format.js    numbers, rates, times, enums, base64, hex dumps
//	static/form.js      the create and edit form, and field errors placed next to their field
//	static/listeners.js the listeners table: filters, pages, live counters and rates
//	static/detail.js    one listener: spec, status, connections, frames, send, events, chart
//	static/chart.js     the rate chart, SVG drawn by hand
//	static/dialogs.js   the token prompt, and the stop and delete dialogs
package ui

import "embed"

// Files holds index.html and static/.
//
//go:embed index.html static
var Files embed.FS
