package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// timeLayout is how times are printed: RFC 3339 with milliseconds, in the
// printer's time zone, e.g. 2026-01-02T03:04:05.600Z or
// 2026-01-02T04:04:05.600+01:00.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// clock returns the time ages are counted to: p.now, or the current time.
func (p printer) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// location is the time zone of printed times: p.loc, or the local one.
func (p printer) location() *time.Location {
	if p.loc != nil {
		return p.loc
	}
	return time.Local
}

// timestamp prints ts in p's time zone; "-" when unset.
func (p printer) timestamp(ts *timestamppb.Timestamp) string {
	if !isSet(ts) {
		return "-"
	}
	return ts.AsTime().In(p.location()).Format(timeLayout)
}

// age is how long before p's clock ts was, e.g. "3s", "4m12s", "5h7m",
// "2d3h"; "-" when ts is unset. The daemon's clock may run ahead of this
// host's: a time in the future is "0s".
func (p printer) age(ts *timestamppb.Timestamp) string {
	if !isSet(ts) {
		return "-"
	}
	s := int64(max(p.clock().Sub(ts.AsTime()), 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 60*60:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 24*60*60:
		return fmt.Sprintf("%dh%dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
}

// isSet reports whether ts holds a time: not nil, valid, and neither
// the Unix epoch (the zero Timestamp) nor Go's zero time.
func isSet(ts *timestamppb.Timestamp) bool {
	return ts.IsValid() && (ts.GetSeconds() != 0 || ts.GetNanos() != 0) && !ts.AsTime().IsZero()
}

// connections prints a ListConnections reply: a table, or
// {"connections": [...]}.
func (p printer) connections(resp *sockplanev1.ListConnectionsResponse) error {
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	return p.writeConnections(resp.GetConnections())
}

// connectionsHeader names the columns of writeConnections.
var connectionsHeader = []string{"ID", "PEER", "LOCAL", "OPENED", "LAST ACTIVITY", "FRAMES IN/OUT", "BYTES IN/OUT"}

// writeConnections writes a header and one row per connection. OPENED
// and LAST ACTIVITY are ages: how long ago the connection was accepted
// (the datagram peer first heard from) and bytes last came in. When a
// connection has a client certificate (mutual TLS), a last column,
// CLIENT CERT, shows its subject.
func (p printer) writeConnections(conns []*sockplanev1.Connection) error {
	tw := tabwriter.NewWriter(p.w, 0, 8, 3, ' ', 0)
	subjects := slices.ContainsFunc(conns, func(c *sockplanev1.Connection) bool { return c.GetTlsPeerSubject() != "" })
	header := strings.Join(connectionsHeader, "\t")
	if subjects {
		header += "\tCLIENT CERT"
	}
	fmt.Fprintln(tw, header)
	for _, c := range conns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d",
			displayWord(c.GetId()),
			displayWord(c.GetPeerAddress()),
			displayWord(c.GetLocalAddress()),
			p.age(c.GetOpenedAt()),
			p.age(c.GetLastActivityAt()),
			c.GetFramesIn(), c.GetFramesOut(),
			c.GetBytesIn(), c.GetBytesOut(),
		)
		if subjects {
			fmt.Fprintf(tw, "\t%s", displayWord(c.GetTlsPeerSubject()))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// closedConnection reports a closed connection: a line, or the REST
// API's reply, {}.
func (p printer) closedConnection(id string, resp *sockplanev1.CloseConnectionResponse) error {
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	_, err := fmt.Fprintf(p.w, "closed %s\n", id)
	return err
}

// sentFrame reports a SendFrame: a line, or the reply as JSON.
func (p printer) sentFrame(connID string, resp *sockplanev1.SendFrameResponse) error {
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	_, err := fmt.Fprintf(p.w, "wrote %d bytes to connection %s\n", resp.GetBytesWritten(), connID)
	return err
}

// bodyFormat is how the frames table shows a body.
type bodyFormat uint8

// The body formats.
const (
	// bodyAuto is bodyText for a body of text, hex for binary data,
	// prefixed "hex:".
	bodyAuto bodyFormat = iota + 1
	// bodyText is the body as is when it is printable text, else quoted
	// Go-style, with escapes (\n, \x00, \xff).
	bodyText
	// bodyHex is the body in hexadecimal.
	bodyHex
	// bodyBase64 is the body in standard base64, as -o json has it.
	bodyBase64
)

var bodyFormatNames = []enumName[bodyFormat]{
	{"auto", bodyAuto},
	{"text", bodyText},
	{"hex", bodyHex},
	{"base64", bodyBase64},
}

// frameView is how the frames table shows headers and bodies.
type frameView struct {
	// body is the format of BODY. Default (zero): auto.
	body bodyFormat
	// width cuts HEADER and BODY to this many characters, "..."
	// included; 0 does not cut.
	width int
}

// frames prints a ListFrames reply: a table, or {"frames": [...]}.
func (p printer) frames(resp *sockplanev1.ListFramesResponse, v frameView) error {
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	return p.writeFrames(resp.GetFrames(), v)
}

// framesHeader names the columns of writeFrames.
var framesHeader = []string{"AT", "CONN", "DIR", "SIZE", "TRUNCATED", "HEADER", "BODY"}

// directionNames are the names of the frames table's DIR.
var directionNames = []enumName[sockplanev1.Direction]{
	{"in", sockplanev1.Direction_DIRECTION_IN},
	{"out", sockplanev1.Direction_DIRECTION_OUT},
}

// writeFrames writes a header and one row per frame. SIZE is the body's
// full size; TRUNCATED says whether the capture cut the header or the
// body; HEADER is the JSON header ("-" for framings without one).
func (p printer) writeFrames(frames []*sockplanev1.CapturedFrame, v frameView) error {
	tw := tabwriter.NewWriter(p.w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(framesHeader, "\t"))
	for _, f := range frames {
		truncated := "no"
		if f.GetTruncated() {
			truncated = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			p.timestamp(f.GetAt()),
			displayWord(f.GetConnectionId()),
			displayName(directionNames, f.GetDirection()),
			f.GetBodySize(),
			truncated,
			cut(formatHeader(f.GetHeader()), v.width),
			cut(formatBody(f.GetBody(), v.body), v.width),
		)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// formatHeader shows a captured JSON header: "-" when there is none,
// else as quoteText does.
func formatHeader(h string) string {
	if h == "" {
		return "-"
	}
	return quoteText(h)
}

// hexPrefix marks a body that bodyAuto shows in hexadecimal. A text body
// that starts with it is quoted, so that the two cannot be confused.
const hexPrefix = "hex:"

// formatBody shows b in format f, on one line that a terminal prints as
// it is: bytes of a peer never reach the terminal raw.
func formatBody(b []byte, f bodyFormat) string {
	if len(b) == 0 && (f == bodyHex || f == bodyBase64) {
		return "-" // not an empty cell, which would shift the columns
	}
	switch f {
	case bodyHex:
		return hex.EncodeToString(b)
	case bodyBase64:
		return base64.StdEncoding.EncodeToString(b)
	case bodyText:
		return quoteText(string(b))
	}
	if isBinary(b) {
		return hexPrefix + hex.EncodeToString(b)
	}
	return quoteText(string(b))
}

// isBinary reports whether b is not text: not UTF-8, or holding control
// characters other than tab, newline and carriage return.
func isBinary(b []byte) bool {
	if !utf8.Valid(b) {
		return true
	}
	return bytes.ContainsFunc(b, func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
	})
}

// quoteText is s as it is when that is unambiguous on one line of a
// table, else s quoted Go-style: when s is empty, has a character that is
// not printable (a control character, invalid UTF-8, a space other than
// ' '), starts or ends with a space, or starts with a quote or hexPrefix.
func quoteText(s string) string {
	if s == "" || !utf8.ValidString(s) ||
		strings.HasPrefix(s, `"`) || strings.HasPrefix(s, hexPrefix) ||
		strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") ||
		strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// quoteWord is s quoted like quoteText, and also when it holds a space:
// for ids and addresses, which must stay one field of a line, as a Unix
// socket path with a space would not.
func quoteWord(s string) string {
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return strconv.Quote(s)
	}
	return quoteText(s)
}

// displayWord is s for a table cell or a field of a line: "-" when
// empty, otherwise quoteWord(s).
func displayWord(s string) string {
	if s == "" {
		return "-"
	}
	return quoteWord(s)
}

// ellipsis ends a cell that was cut.
const ellipsis = "..."

// cut shortens s to width characters, the last three of them "...";
// width 0 leaves s whole.
func cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	keep := max(width-len(ellipsis), 0)
	i := 0
	for range keep {
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	return s[:i] + ellipsis
}

// event prints one event of a watch: a line, or one compact JSON object
// on a line of its own (the REST API's stream is the same).
func (p printer) event(resp *sockplanev1.WatchEventsResponse) error {
	if p.format == outputJSON {
		return writeJSONLine(p.w, resp)
	}
	_, err := io.WriteString(p.w, p.eventLine(resp.GetEvent())+"\n")
	return err
}

// eventTypeWidth pads the event type, so that the listener ids of most
// lines line up: the longest names are connection-opened and
// connection-closed.
const eventTypeWidth = len("connection-opened")

// eventLine is the line of an event:
//
//	TIME TYPE LISTENER [conn=ID] [peer=ADDR] [MESSAGE]
//
// TYPE is the event type in lowercase without its prefix, e.g.
// connection-opened; LISTENER is "-" when the event has none. An
// events-dropped event says "missed N events" instead.
func (p printer) eventLine(e *sockplanev1.Event) string {
	var b strings.Builder
	b.WriteString(p.timestamp(e.GetAt()))
	b.WriteByte(' ')
	fmt.Fprintf(&b, "%-*s", eventTypeWidth, eventTypeName(e.GetType()))
	b.WriteByte(' ')
	b.WriteString(displayWord(e.GetListenerId()))
	if e.GetType() == sockplanev1.EventType_EVENT_TYPE_EVENTS_DROPPED {
		fmt.Fprintf(&b, " missed %d events", e.GetDropped())
	}
	if id := e.GetConnectionId(); id != "" {
		b.WriteString(" conn=" + quoteWord(id))
	}
	if peer := e.GetPeerAddress(); peer != "" {
		b.WriteString(" peer=" + quoteWord(peer))
	}
	if msg := e.GetMessage(); msg != "" {
		b.WriteString(" " + quoteText(msg))
	}
	return b.String()
}

// eventTypeName is t in lowercase words joined by '-', without the
// EVENT_TYPE_ prefix: "connection-opened"; "-" for UNSPECIFIED.
func eventTypeName(t sockplanev1.EventType) string {
	if t == sockplanev1.EventType_EVENT_TYPE_UNSPECIFIED {
		return "-"
	}
	name := strings.TrimPrefix(t.String(), "EVENT_TYPE_") // a number for a type added later
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// writeJSONLine writes m as compact JSON and a newline: one line per
// message, newline-delimited JSON. json.Compact takes out the spaces
// protojson adds at random.
func writeJSONLine(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("compact json: %w", err)
	}
	buf.WriteByte('\n')
	_, err = buf.WriteTo(w)
	return err
}
