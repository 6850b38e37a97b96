// Command sockctl is the command-line client of sockplane. It manages the
// daemon's listeners over its gRPC API, and talks to a listener the way
// the tutorial's clients do: each message one frame, a 4-byte header
// length, the JSON header {"data_size": N}, then N bytes.
//
//	sockctl listeners create --transport tcp --handler upper
//	sockctl listeners list|get|stop|start|delete ...  [--server 127.0.0.1:7070] [-o table|json]
//	sockctl send ADDR MSG...                           [--udp] [--byte-order little|big]
//	sockctl chat ADDR                                  [--udp] [--byte-order little|big]
//
// Errors go to stderr prefixed with "sockctl:", and the exit status is 1.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sockctl:", err)
		os.Exit(1)
	}
}

// run executes the command line args, reading from in and printing to
// out and errOut.
func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	cmd := newRootCmd(in, out, errOut)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// newRootCmd builds the command tree on the given streams.
func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	daemon := &daemonOptions{output: newEnumFlag(outputNames, "table")}
	cmd := &cobra.Command{
		Use:   "sockctl",
		Short: "Manage sockplane listeners and talk to them",
		Long: `sockctl manages the listeners of a sockplane daemon over its gRPC API, and
talks to a listener like the tutorial's clients: each message is one frame,
a 4-byte header length, the JSON header {"data_size": N}, then N bytes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(in)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	pf := cmd.PersistentFlags()
	pf.StringVar(&daemon.server, "server", "127.0.0.1:7070", "the sockplane daemon's gRPC API at `HOST:PORT` (listeners commands)")
	pf.VarP(daemon.output, "output", "o", "output format of the listeners commands")
	cmd.AddCommand(newListenersCmd(daemon), newSendCmd(), newChatCmd())
	return cmd
}
