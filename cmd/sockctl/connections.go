package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// callTimeoutHelp is the help of --timeout on the commands that make one
// call (or one per id) to the daemon.
const callTimeoutHelp = "bound on each call to the daemon"

func newConnectionsCmd(o *daemonOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connections",
		Aliases: []string{"connection", "conns"},
		Short:   "List and close the connections of a listener (the recent peers of a datagram listener)",
		Args:    cobra.NoArgs,
	}
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", 10*time.Second, callTimeoutHelp)
	cmd.AddCommand(newConnectionsListCmd(o), newConnectionsCloseCmd(o))
	return cmd
}

func newConnectionsListCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list LISTENER_ID",
		Aliases: []string{"ls"},
		Short:   "List a listener's open connections, oldest first",
		Long: `List shows a listener's open connections, oldest first; for a udp or unixgram
listener, the peers heard from recently (peers silent for 5 minutes are
forgotten). A stopped listener has none.

OPENED and LAST ACTIVITY are ages: how long ago the connection was accepted
(the peer first heard from) and bytes last came from it. FRAMES IN/OUT and
BYTES IN/OUT count that connection's frames and bytes, framing included.
ID is what connections close, send-frame and frames --connection take.`,
		Example: `  sockctl connections list web
  sockctl connections list web -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.ListConnections, &sockplanev1.ListConnectionsRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return p.connections(resp)
			})
		},
	}
}

func newConnectionsCloseCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "close LISTENER_ID CONNECTION_ID...",
		Short: "Close connections of a listener; their peers read EOF",
		Long: `Close closes each connection: its peer reads EOF, and the listener goes on
serving the others. For a udp or unixgram listener it forgets the peer, which
comes back as a new one if it sends again. The ids are closed in order; one
that fails does not keep the others from closing.`,
		Example: `  sockctl connections close web 3
  sockctl connections close web 3 4 7`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			listener, ids := args[0], args[1:]
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				var errs []error
				for _, id := range ids {
					resp, err := call(ctx, d, d.ls.CloseConnection, &sockplanev1.CloseConnectionRequest{Id: listener, ConnectionId: id})
					if err == nil {
						err = p.closedConnection(id, resp)
					}
					errs = append(errs, err)
				}
				return errors.Join(errs...)
			})
		},
	}
}

func newFramesCmd(o *daemonOptions) *cobra.Command {
	var (
		connection string
		body       = newEnumFlag(bodyFormatNames, "auto")
		width      int
	)
	cmd := &cobra.Command{
		Use:   "frames LISTENER_ID [--connection ID]",
		Short: "List the frames a listener captured, oldest first",
		Long: `Frames lists the frames a listener captured, both directions, oldest first.
Only a listener with capture on keeps frames: the record handler turns it on
(it keeps the last 1000, and 4 KiB of each body); other handlers capture when
the listener was created with the API's capture options. On a listener with
capture off, frames fails and says how to turn capture on, rather than show an
empty table that looks like a quiet listener.

AT is when the frame was read or written (RFC 3339, local time). SIZE is the
body's full size; TRUNCATED says whether the capture kept only the start of
the header (1 KiB) or of the body. HEADER is the JSON header as it was on the
wire, "-" for framings without one.

BODY is shown on one line, never with raw bytes a terminal would act on.
--body-format:
  auto    text as it is, or quoted Go-style with escapes where that could
          mislead: an empty body, tabs, newlines, leading or trailing spaces,
          a leading " or hex:; binary data (not UTF-8, or with other control
          characters) in hexadecimal after "hex:"
  text    text as it is or quoted, binary data too (\x00, \xff)
  hex     hexadecimal ("-" for an empty body)
  base64  standard base64, as -o json has it ("-" for an empty body)
HEADER and BODY are cut to --width characters; -o json has them whole.`,
		Example: `  sockctl frames chat
  sockctl frames chat --connection 3 --body-format hex --width 0
  sockctl frames chat -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if width < 0 {
				return fmt.Errorf("--width %d: want 0 (no cut) or more", width)
			}
			view := frameView{body: body.value, width: width}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.ListFrames, &sockplanev1.ListFramesRequest{Id: args[0], ConnectionId: connection})
				if err != nil {
					return err
				}
				if len(resp.GetFrames()) == 0 {
					if err := captureOff(ctx, d, args[0]); err != nil {
						return err
					}
				}
				return p.frames(resp, view)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&connection, "connection", "", "only the frames of connection `ID` (default: every connection's)")
	f.Var(body, "body-format", "how BODY shows a body")
	f.IntVar(&width, "width", 40, "cut HEADER and BODY to `N` characters; 0 does not cut")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, callTimeoutHelp)
	return cmd
}

// captureOff returns an error when listener id does not capture frames,
// which would explain why it has none.
func captureOff(ctx context.Context, d *daemonClient, id string) error {
	resp, err := call(ctx, d, d.ls.GetListener, &sockplanev1.GetListenerRequest{Id: id})
	if err != nil {
		return err
	}
	if resp.GetListener().GetCapture().GetMaxFrames() > 0 {
		return nil
	}
	return fmt.Errorf("listener %s does not capture frames: capture is off (turn it on, live, with sockctl listeners update %[1]s --capture-max-frames 1000; the record handler has it on)", id)
}
