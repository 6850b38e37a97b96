// Command sockctl is the command-line client of sockplane. It manages the
// daemon's listeners over its gRPC API, and talks to a listener the way
// the tutorial's clients do: by default each message is one frame, a
// 4-byte header length, the JSON header {"data_size": N}, then N bytes;
// --framing length and raw speak the tutorial's other forms.
//
//	sockctl listeners create --transport tcp|udp|unix|unixgram --handler echo|upper|exec|discard|record|script [-l KEY=VALUE...] [--ttl D] ...
//	        [--script FILE] [--fault SPEC...] [--fault-seed N] [--tls-self-signed | --tls-cert-file F --tls-key-file F] [--tls-client-ca-file F]
//	sockctl listeners update ID [--handler ...] [-l KEY=VALUE...] [--ttl D] [--limit-... N] [--etag ETAG] ...
//	sockctl listeners list [-l SELECTOR] | get ID | stop ID... | start ID... | delete (ID... | -l SELECTOR)
//	        [--server 127.0.0.1:7070] [-o table|json|yaml]
//	        [--token TOKEN (default $SOCKPLANE_TOKEN)] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]
//	sockctl apply -f FILE|- [--prune -l SELECTOR]
//	sockctl connections list LISTENER_ID
//	sockctl connections close LISTENER_ID CONNECTION_ID...
//	sockctl frames LISTENER_ID [--connection ID] [--body-format auto|text|hex|base64]
//	sockctl send-frame LISTENER_ID CONNECTION_ID (BODY | --body-file FILE | --body-hex HEX) [--header KEY=VALUE...]
//	sockctl watch [--listener ID]
//	sockctl send (ADDR | --unix PATH | --unixgram PATH) MSG...  [--udp] [--framing json|length|raw] [--byte-order little|big]
//	sockctl chat (ADDR | --unix PATH | --unixgram PATH)         [--udp] [--framing json|length|raw] [--byte-order little|big]
//	sockctl completion bash|zsh|fish|powershell
//	sockctl bench (ADDR | --unix PATH) [--conns N] [--depth N] [--rate N] [--udp] ...
//	        send, chat and bench: [--tls] [--tls-ca FILE | --tls-pin SHA256 | --insecure] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]
//
// On send, chat and bench, which never call the daemon, --tls-ca,
// --tls-cert, --tls-key and --tls-server-name are the listener's TLS:
// local flags that shadow the root's persistent flags of those names.
//
// Errors go to stderr prefixed with "sockctl:", and the exit status is 1;
// but when an exec listener's reply to send or chat reports a non-zero
// exit_code, sockctl exits with that code (1 for one out of 1..255), as
// ssh exits with the remote command's.
package main

import (
	"context"
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
	if code := exitCode(err, os.Stderr); code != 0 {
		os.Exit(code)
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
		Long: `sockctl manages the listeners of a sockplane daemon over its gRPC API, shows
their connections, captured frames and events, and writes frames to their
connections; and it talks to a listener like the tutorial's clients: by
default each message is one frame, a 4-byte header length, the JSON header
{"data_size": N}, then N bytes; send and chat also speak the tutorial's 4-byte
length prefix and raw messages (--framing length|raw), over TCP, UDP and Unix
sockets.

apply -f FILE makes the daemon's listeners what a YAML or JSON file says,
creating and updating them (and, with --prune -l SELECTOR, deleting those the
file leaves out); listeners get -o yaml writes such a file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Cobra runs the PersistentPreRunE nearest the command: no
		// subcommand has its own.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return checkOutput(cmd, daemon.output) },
	}
	cmd.SetIn(in)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	pf := cmd.PersistentFlags()
	pf.StringVar(&daemon.server, "server", "127.0.0.1:7070", "the sockplane daemon's gRPC API at `HOST:PORT` (every command but send, chat and bench)")
	pf.VarP(daemon.output, "output", "o", "output format of the commands that call the daemon (yaml: listeners get and list, the format of apply -f)")
	// --token, --tls-ca, --tls-cert, --tls-key, --tls-server-name. send,
	// chat and bench define local flags of the same names, for the
	// listener's TLS, which cobra prefers to these there.
	daemon.security.addFlags(cmd)
	cmd.AddCommand(
		newListenersCmd(daemon),
		newApplyCmd(daemon),
		newConnectionsCmd(daemon),
		newFramesCmd(daemon),
		newSendFrameCmd(daemon),
		newWatchCmd(daemon),
		newNodesCmd(daemon),
		newSendCmd(),
		newChatCmd(),
		newBenchCmd(daemon),
	)
	addCompletion(cmd)
	requireSubcommands(cmd)
	return cmd
}
