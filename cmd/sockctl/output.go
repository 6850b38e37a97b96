package main

import (
	"bytes"
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

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// outputFormat is how the commands that call the daemon print what it sent.
type outputFormat uint8

// The output formats.
const (
	// outputTable is aligned rows (one line per event for watch), for
	// people.
	outputTable outputFormat = iota + 1
	// outputJSON is the REST API's JSON: protojson, lowerCamelCase, with
	// default values.
	outputJSON
	// outputYAML is a listener's spec fields, as apply -f reads them:
	// the JSON of outputJSON without the output-only fields, in YAML.
	// Only for the commands whose Annotations are yamlOutput.
	outputYAML
)

// outputAnnotation is the Annotations key of the output formats a
// command takes, comma-separated; without it, table and json.
const outputAnnotation = "sockctl/output"

// yamlOutput are the Annotations of the commands that take -o yaml.
var yamlOutput = map[string]string{outputAnnotation: "table,json,yaml"}

// checkOutput refuses an --output that cmd does not print.
func checkOutput(cmd *cobra.Command, output *enumFlag[outputFormat]) error {
	accepted := "table,json"
	if a, ok := cmd.Annotations[outputAnnotation]; ok {
		accepted = a
	}
	names := strings.Split(accepted, ",")
	if slices.Contains(names, output.name) {
		return nil
	}
	return fmt.Errorf("--output %s is not for %s: want one of: %s (yaml: listeners get and list)", output.name, cmd.CommandPath(), strings.Join(names, ", "))
}

// jsonOptions match the REST gateway's marshaler (api.NewGateway), so
// `sockctl -o json` and curl print the same objects.
var jsonOptions = protojson.MarshalOptions{EmitDefaultValues: true}

// printer prints replies of the daemon in the chosen format.
type printer struct {
	w      io.Writer
	format outputFormat
	// now is the time the ages of connections count to. Default:
	// time.Now.
	now func() time.Time
	// loc is the time zone of printed times. Default: time.Local.
	loc *time.Location
}

// listeners prints listeners as one table, or as one JSON object each.
func (p printer) listeners(ls ...*sockplanev1.Listener) error {
	if p.format == outputYAML {
		if len(ls) == 1 {
			return writeSpecYAML(p.w, ls[0])
		}
		return writeSpecsYAML(p.w, ls)
	}
	if p.format == outputJSON {
		for _, l := range ls {
			if err := writeJSON(p.w, l); err != nil {
				return err
			}
		}
		return nil
	}
	if err := writeTable(p.w, ls); err != nil {
		return err
	}
	if len(ls) == 1 {
		return p.details(ls[0])
	}
	return nil
}

// details writes, under the table of one listener, the status a row has
// no room for, one line each when there is any: the certificate of a TLS
// listener, the hits of a script's rules and how often each fault
// applied. -o json shows it all.
func (p printer) details(l *sockplanev1.Listener) error {
	st := l.GetStatus()
	var b strings.Builder
	if t := st.GetTls(); t.GetFingerprintSha256() != "" {
		fmt.Fprintf(&b, "tls:      sha256 %s  expires %s\n", t.GetFingerprintSha256(), p.timestamp(t.GetNotAfter()))
	}
	if sc := st.GetScript(); sc != nil {
		hits := make([]string, len(sc.GetRuleHits()))
		for i, n := range sc.GetRuleHits() {
			hits[i] = strconv.FormatUint(n, 10)
		}
		rules := strings.Join(hits, " ")
		if rules == "" {
			rules = "-"
		}
		fmt.Fprintf(&b, "script:   rule hits %s  default %d  unmatched %d\n", rules, sc.GetDefaultHits(), sc.GetUnmatched())
	}
	if fs := st.GetFaults(); len(fs) > 0 {
		applied := make([]string, len(fs))
		for i, f := range fs {
			applied[i] = fmt.Sprintf("%s %d", displayWord(f.GetName()), f.GetApplied())
		}
		fmt.Fprintf(&b, "faults:   applied %s\n", strings.Join(applied, ", "))
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// list prints a ListListeners reply: a table, {"listeners": [...]}, or
// a YAML list of the listeners' specs.
func (p printer) list(resp *sockplanev1.ListListenersResponse) error {
	if p.format == outputYAML {
		return writeSpecsYAML(p.w, resp.GetListeners())
	}
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	return writeTable(p.w, resp.GetListeners())
}

// deleted reports a deleted listener: a line, or the REST API's reply to
// a DELETE, {}.
func (p printer) deleted(id string, resp *sockplanev1.DeleteListenerResponse) error {
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	_, err := fmt.Fprintf(p.w, "deleted %s\n", id)
	return err
}

// batchDeleted reports a BatchDeleteListeners reply: a line per listener
// deleted, or the REST API's reply, {"deletedIds": [...]}.
func (p printer) batchDeleted(resp *sockplanev1.BatchDeleteListenersResponse) error {
	if p.format == outputJSON {
		return writeJSON(p.w, resp)
	}
	for _, id := range resp.GetDeletedIds() {
		if _, err := fmt.Fprintf(p.w, "deleted %s\n", id); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON writes m as JSON indented by two spaces, and a newline.
// protojson adds spaces at random, on purpose, so that nobody depends on
// its bytes; json.Indent lays them out again, so the same message always
// prints the same.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return fmt.Errorf("indent json: %w", err)
	}
	buf.WriteByte('\n')
	_, err = buf.WriteTo(w)
	return err
}

// tableHeader names the columns of writeTable.
var tableHeader = []string{"ID", "TRANSPORT", "HANDLER", "STATE", "ADDRESS", "CONNS", "FRAMES IN/OUT", "ERRORS"}

// writeTable writes a header and one row per listener. ADDRESS is the
// bound address while running, else the requested one; CONNS counts the
// connections open now.
func writeTable(w io.Writer, ls []*sockplanev1.Listener) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	for _, l := range ls {
		stats := l.GetStatus().GetStats()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%d\n",
			l.GetId(),
			transportWithTLS(l),
			displayName(handlerNames, l.GetHandler()),
			displayName(stateNames, l.GetStatus().GetState()),
			listenerAddress(l),
			stats.GetConnectionsActive(),
			stats.GetFramesIn(), stats.GetFramesOut(),
			stats.GetErrors(),
		)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// transportWithTLS is a listener's transport, with "+tls" when it has
// TLS: "tcp+tls".
func transportWithTLS(l *sockplanev1.Listener) string {
	t := displayName(transportNames, l.GetTransport())
	if l.GetTls() != nil {
		t += "+tls"
	}
	return t
}

// listenerAddress is where a listener can be reached: the bound address
// while it has one, else the address it asks for, else "-". A Unix socket
// path that holds spaces or bytes a terminal would not show as they are
// is quoted, Go-style, so that it stays one column and can be pasted
// back.
func listenerAddress(l *sockplanev1.Listener) string {
	a := l.GetStatus().GetBoundAddress()
	if a == "" {
		a = l.GetAddress()
	}
	switch {
	case a == "":
		return "-"
	case !utf8.ValidString(a) || strings.HasPrefix(a, `"`) ||
		strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return strconv.Quote(a)
	}
	return a
}
