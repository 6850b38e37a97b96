package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func newRecordingCmd(o *daemonOptions) *cobra.Command {
	var asScript bool
	cmd := &cobra.Command{
		Use:   "recording ID [--as-script]",
		Short: "Show what a proxy listener recorded, or write it as a script that answers the same",
		Long: `Recording shows the exchanges a HANDLER_PROXY listener with proxy.record
kept: each request it relayed and what the upstream sent back before the
connection's next request, oldest first.

--as-script writes, instead, the body of an update that turns the listener
into a HANDLER_SCRIPT listener answering the same without the upstream: a
rule per recorded request (match.bodyEquals, or bodyBase64 for bytes that
are not text), in the order recorded, replying with the first reply that
came back (and its header's fields); what the upstream sent first becomes
the greeting. A request recorded twice keeps its first answer; exchanges
with no reply, or cut at 64 KiB, are left out and counted on stderr. Apply
it with the update mask it needs, so that the proxy options go:

  sockctl listeners recording px --as-script > script.json
  curl -s -XPATCH '127.0.0.1:7080/v1/listeners/px?updateMask=handler,script,proxy' \
    -H 'Content-Type: application/json' -d @script.json`,
		Example: `  sockctl listeners recording px
  sockctl listeners recording px -o json
  sockctl listeners recording px --as-script > script.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.GetRecording, &sockplanev1.GetRecordingRequest{Id: args[0]})
				if err != nil {
					return err
				}
				if asScript {
					return writeAsScript(p.w, cmd.ErrOrStderr(), resp)
				}
				if p.format == outputJSON || p.format == outputYAML {
					return writeJSON(p.w, resp)
				}
				return p.recording(resp)
			})
		},
	}
	cmd.Flags().BoolVar(&asScript, "as-script", false, "write an update body (JSON) that makes the listener a script answering as recorded")
	return cmd
}

// recording writes one row per exchange: its connection, the request and
// the first reply (with how many more came).
func (p printer) recording(resp *sockplanev1.GetRecordingResponse) error {
	tw := tabwriter.NewWriter(p.w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tCONN\tREQUEST\tREPLY\tMORE")
	for _, e := range resp.GetExchanges() {
		req := "(greeting)"
		if r := e.GetRequest(); r != nil {
			req = cut(formatBody(r.GetBody(), bodyAuto), 40)
		}
		reply, more := "-", 0
		if rs := e.GetReplies(); len(rs) > 0 {
			reply, more = cut(formatBody(rs[0].GetBody(), bodyAuto), 40), len(rs)-1
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", e.GetSeq(), p.timestamp(e.GetAt()), displayWord(e.GetConnectionId()), req, reply, more)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if n := resp.GetDropped(); n > 0 {
		fmt.Fprintf(p.w, "(%d older exchanges dropped by the ring)\n", n)
	}
	return nil
}

// scriptReply and the types below are the JSON of a Listener update body
// with a script, as the REST API reads it.
type scriptReply struct {
	Body       *string           `json:"body,omitempty"`
	BodyBase64 string            `json:"bodyBase64,omitempty"`
	Header     map[string]string `json:"header,omitempty"`
}

type scriptMatch struct {
	BodyEquals *string `json:"bodyEquals,omitempty"`
	BodyBase64 string  `json:"bodyBase64,omitempty"`
}

type scriptRule struct {
	Match scriptMatch `json:"match"`
	Reply scriptReply `json:"reply"`
}

type scriptBody struct {
	Handler string `json:"handler"`
	Script  struct {
		Greeting *scriptReply `json:"greeting,omitempty"`
		Rules    []scriptRule `json:"rules"`
	} `json:"script"`
}

// writeAsScript writes the update body --as-script describes.
func writeAsScript(w, errOut io.Writer, resp *sockplanev1.GetRecordingResponse) error {
	var out scriptBody
	out.Handler = "HANDLER_SCRIPT"
	out.Script.Rules = []scriptRule{}
	seen := map[string]bool{}
	skipped := 0
	for _, e := range resp.GetExchanges() {
		if e.GetTruncated() || len(e.GetReplies()) == 0 {
			skipped++
			continue
		}
		reply := asReply(e.GetReplies()[0])
		r := e.GetRequest()
		if r == nil {
			if out.Script.Greeting == nil {
				out.Script.Greeting = &reply
			}
			continue
		}
		key := string(r.GetBody())
		if seen[key] {
			continue // first match wins: the first answer stands
		}
		seen[key] = true
		rule := scriptRule{Reply: reply}
		if body := r.GetBody(); utf8.Valid(body) {
			s := string(body)
			rule.Match.BodyEquals = &s
		} else {
			rule.Match.BodyBase64 = base64.StdEncoding.EncodeToString(body)
		}
		out.Script.Rules = append(out.Script.Rules, rule)
	}
	if skipped > 0 {
		fmt.Fprintf(errOut, "sockctl: %d exchanges left out: no reply, or cut at 64 KiB\n", skipped)
	}
	if len(out.Script.Rules) == 0 && out.Script.Greeting == nil {
		return fmt.Errorf("the recording has no exchange with a reply to make a script of")
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// asReply is a recorded reply as a script's reply: its body, and the
// fields of its JSON header but data_size, as text.
func asReply(f *sockplanev1.RecordedFrame) scriptReply {
	var r scriptReply
	if body := f.GetBody(); utf8.Valid(body) {
		s := string(body)
		r.Body = &s
	} else {
		r.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	if h := strings.TrimSpace(f.GetHeader()); h != "" {
		var fields map[string]json.RawMessage
		if json.Unmarshal([]byte(h), &fields) == nil {
			for k, v := range fields {
				if k == "data_size" {
					continue
				}
				if r.Header == nil {
					r.Header = map[string]string{}
				}
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = string(v) // a number or another JSON value, as text
				}
				r.Header[k] = s
			}
		}
	}
	return r
}
