package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func newWatchCmd(o *daemonOptions) *cobra.Command {
	var listener string
	cmd := &cobra.Command{
		Use:   "watch [--listener ID]",
		Short: "Print the daemon's events as they happen, until Ctrl-C",
		Long: `Watch prints the daemon's events as they happen, one line each, until Ctrl-C
or until the daemon ends the stream: when it shuts down, watch says so on
standard error and exits 0; any other end is an error. Once the daemon
watches, a line on standard error says so; events from then on are printed.

A line is the time (RFC 3339, local time), the event type, the listener, then
conn=ID and peer=ADDR for connection and frame events, then the daemon's
details: where a listener listens, why it failed, what was wrong with a frame.
Text a peer controls is quoted, with escapes, when it is not printable.

  2026-01-02T03:04:05.600Z listener-created  web listening on 127.0.0.1:9000
  2026-01-02T03:04:06.100Z connection-opened web conn=1 peer=127.0.0.1:51234
  2026-01-02T03:04:09.000Z connection-closed web conn=1 peer=127.0.0.1:51234

A watcher that reads too slowly misses events, and a line says how many:

  2026-01-02T03:04:10.000Z events-dropped    - missed 12 events

With -o json each event is one line of compact JSON, {"event": {...}}, as the
REST API's GET /v1/events streams them.

--timeout bounds connecting to the daemon; the watch itself has no bound.`,
		Example: `  sockctl watch
  sockctl watch --listener web
  sockctl watch -o json | jq -c .event`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				return watch(ctx, d, p, cmd.ErrOrStderr(), listener)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&listener, "listener", "", "only the events of listener `ID` (default: every listener's)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on connecting to the daemon (the watch itself has none)")
	return cmd
}

// errConnectTimeout ends a watch that did not start within the timeout.
var errConnectTimeout = errors.New("connect timeout")

// watch prints the events of listener (every listener's when empty)
// until ctx ends, which is no error, or the daemon ends the stream. It
// tells errOut when the daemon watches.
func watch(ctx context.Context, d *daemonClient, p printer, errOut io.Writer, listener string) error {
	streamCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Only connecting is bounded: the daemon sends the stream's headers
	// once it watches, before any event.
	timer := time.AfterFunc(d.timeout, func() { cancel(errConnectTimeout) })
	stream, err := d.ls.WatchEvents(streamCtx, &sockplanev1.WatchEventsRequest{ListenerId: listener})
	if err != nil {
		timer.Stop()
		return d.watchEnded(ctx, streamCtx, errOut, err)
	}
	md, _ := stream.Header() // the error, if any, comes from Recv
	timer.Stop()
	if md != nil && streamCtx.Err() == nil {
		what := "every listener"
		if listener != "" {
			what = "listener " + listener
		}
		fmt.Fprintf(errOut, "watching the events of %s at %s; Ctrl-C to stop\n", what, d.server)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return d.watchEnded(ctx, streamCtx, errOut, err)
		}
		if err := p.event(resp); err != nil {
			return err
		}
	}
}

// watchEnded turns the end of a watch into its outcome: nil when ctx,
// the command's, ended (Ctrl-C); an error when connecting took too long
// (streamCtx's cause); nil, with a line on errOut, when the daemon shuts
// down (UNAVAILABLE "... shutting down"); else the error.
func (d *daemonClient) watchEnded(ctx, streamCtx context.Context, errOut io.Writer, err error) error {
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(context.Cause(streamCtx), errConnectTimeout):
		st := status.New(codes.DeadlineExceeded, "no answer within the timeout")
		return &rpcError{msg: fmt.Sprintf("no answer from the daemon at %s within %v", d.server, d.timeout), st: st}
	case err == io.EOF:
		return fmt.Errorf("the daemon at %s ended the watch", d.server)
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable && strings.Contains(st.Message(), "shutting down") {
		fmt.Fprintf(errOut, "watch ended: the daemon at %s said: %s\n", d.server, st.Message())
		return nil
	}
	return d.describe(err)
}
