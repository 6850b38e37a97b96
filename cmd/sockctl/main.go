// Command sockctl is the command-line client of sockplane. It manages the
// daemon's listeners over its gRPC API, and talks to a listener the way
// the tutorial's clients do: by default each message is one frame, a
// 4-byte header length, the JSON header {"data_size": N}, then N bytes;
// --framing length and raw speak the tutorial's other forms.
//
//	sockctl listeners create --transport tcp|udp|unix|unixgram --handler echo|upper|exec ...
//	sockctl listeners list|get|stop|start|delete ...  [--server 127.0.0.1:7070] [-o table|json]
//	sockctl send (ADDR | --unix PATH | --unixgram PATH) MSG...  [--udp] [--framing json|length|raw] [--byte-order little|big]
//	sockctl chat (ADDR | --unix PATH | --unixgram PATH)         [--udp] [--framing json|length|raw] [--byte-order little|big]
//
// Errors go to stderr prefixed with "sockctl:", and the exit status is 1.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// Ctrl-C and SIGTERM cancel the context instead of killing the
	// process, so that send and chat close their connection and remove
	// the reply socket of --unixgram before they exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
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
talks to a listener like the tutorial's clients: by default each message is
one frame, a 4-byte header length, the JSON header {"data_size": N}, then N
bytes; send and chat also speak the tutorial's 4-byte length prefix and raw
messages (--framing length|raw), over TCP, UDP and Unix sockets.`,
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
