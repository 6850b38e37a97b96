package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// daemonOptions are the flags of the commands that call the daemon.
type daemonOptions struct {
	// server is the daemon's gRPC address. Default: 127.0.0.1:7070.
	server string
	// output is table or json. Default: table.
	output *enumFlag[outputFormat]
	// timeout bounds each call. Default: 10s.
	timeout time.Duration
	// security is the token and TLS of the connection.
	security clientSecurity
}

// withDaemon connects to the daemon, runs f with the client and a printer
// on cmd's output, and closes the connection.
func (o *daemonOptions) withDaemon(cmd *cobra.Command, f func(context.Context, *daemonClient, printer) error) error {
	d, err := dialDaemon(o.server, o.timeout, &o.security)
	if err != nil {
		return err
	}
	defer d.Close()
	return f(cmd.Context(), d, printer{w: cmd.OutOrStdout(), format: o.output.value})
}

func newListenersCmd(o *daemonOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "listeners",
		Aliases: []string{"listener"},
		Short:   "Create, list, inspect, stop, start and delete the daemon's listeners",
		Args:    cobra.NoArgs,
	}
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on each call to the daemon")
	cmd.AddCommand(
		newCreateCmd(o),
		newListCmd(o),
		newGetCmd(o),
		newStopCmd(o),
		newStartCmd(o),
		newDeleteCmd(o),
	)
	return cmd
}

// execFlags are the flags of create that fill in ExecOptions.
var execFlags = []string{"exec-allow", "exec-timeout", "exec-max-output", "exec-max-concurrent", "exec-dir"}

func newCreateCmd(o *daemonOptions) *cobra.Command {
	var (
		id              string
		address         string
		unixMode        string
		transport       = newEnumFlag(transportNames, "")
		handler         = newEnumFlag(handlerNames, "echo")
		framing         = newEnumFlag(framingNames, "json")
		requestFraming  = newEnumFlag(framingNames, "")
		responseFraming = newEnumFlag(framingNames, "")
		byteOrder       = newEnumFlag(protoByteOrderNames, "little")
		execOpts        sockplanev1.ExecOptions
		execTimeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create --transport tcp|udp|unix|unixgram [flags]",
		Short: "Bind a new listener and start serving it",
		Long: `Create binds a new listener and starts serving it. The bind happens before
the command returns: an address in use fails it and nothing is created.
With port 0 the kernel picks a free port; ADDRESS shows the real one.

The unix and unixgram transports bind a socket file at the --address PATH, on
the daemon's host (a relative path is relative to the daemon's working
directory), with mode --unix-mode.

--framing sets the framing of requests and replies; --request-framing and
--response-framing override it for one direction. A listener with
--request-framing raw --response-framing json is the tutorial's command
server: the client sends the bare command and reads a JSON-header reply.

The exec handler runs the command each request holds, split into words
without a shell; the daemon must run with --exec-allow, and --exec-allow here
narrows that list for this listener. It is refused on udp and unixgram.`,
		Example: `  sockctl listeners create --transport tcp --address 127.0.0.1:9000 --handler upper
  sockctl listeners create --id dns-like --transport udp --byte-order big -o json
  sockctl listeners create --transport unix --address /tmp/shout.sock --unix-mode 0660 --handler upper
  sockctl listeners create --transport tcp --handler exec --request-framing raw --exec-allow uname,date --exec-timeout 2s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			unix := transport.value == sockplanev1.Transport_TRANSPORT_UNIX || transport.value == sockplanev1.Transport_TRANSPORT_UNIXGRAM
			switch {
			case address == "" && unix:
				return fmt.Errorf("--address PATH is required with --transport %s", transport.name)
			case address == "":
				address = "127.0.0.1:0"
			}
			if f.Changed("unix-mode") && !unix {
				return fmt.Errorf("--unix-mode is only for --transport unix and unixgram")
			}
			l := &sockplanev1.Listener{
				Id:        id,
				Transport: transport.value,
				Address:   address,
				Handler:   handler.value,
				Framing: &sockplanev1.FramingConfig{
					Request:   framing.value,
					Response:  framing.value,
					ByteOrder: byteOrder.value,
				},
			}
			if requestFraming.name != "" {
				l.Framing.Request = requestFraming.value
			}
			if responseFraming.name != "" {
				l.Framing.Response = responseFraming.value
			}
			if f.Changed("unix-mode") {
				l.UnixMode = &unixMode
			}
			if slices.ContainsFunc(execFlags, f.Changed) {
				if handler.value != sockplanev1.Handler_HANDLER_EXEC {
					return fmt.Errorf("--%s is only for --handler exec", execFlags[slices.IndexFunc(execFlags, f.Changed)])
				}
				l.Exec = &execOpts
				if f.Changed("exec-timeout") {
					l.Exec.Timeout = durationpb.New(execTimeout)
				}
			}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.CreateListener, &sockplanev1.CreateListenerRequest{Listener: l})
				if err != nil {
					return err
				}
				return p.listeners(resp.GetListener())
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "listener `ID`: lowercase letters, digits and '-' (default: generated, e.g. tcp-5f0c1a2b)")
	f.Var(transport, "transport", "socket type (required)")
	f.StringVar(&address, "address", "", "bind to `ADDRESS`: HOST:PORT for tcp and udp, where port 0 picks a free port (default 127.0.0.1:0); a socket file PATH for unix and unixgram (required)")
	f.StringVar(&unixMode, "unix-mode", "", "octal `MODE` of a unix or unixgram socket file, e.g. 0660 (default 0600)")
	f.Var(handler, "handler", "what to reply: echo the body, upper-case its ASCII letters, run it as a command (exec), or nothing (discard; record, which also captures every frame for sockctl frames)")
	f.Var(framing, "framing", "framing of requests and replies: json (4-byte length, JSON header, body), length (4-byte length, body) or raw (none)")
	f.Var(requestFraming, "request-framing", "framing of requests (default: --framing)")
	f.Var(responseFraming, "response-framing", "framing of replies (default: --framing)")
	f.Var(byteOrder, "byte-order", "byte order of the 4-byte lengths")
	f.StringSliceVar(&execOpts.Allow, "exec-allow", nil, "exec: `PROGRAMS` this listener may run, a subset of the daemon's --exec-allow (default: all of those)")
	f.DurationVar(&execTimeout, "exec-timeout", 0, "exec: bound on one run; the process group is killed then (default 5s)")
	f.Uint32Var(&execOpts.MaxOutputBytes, "exec-max-output", 0, "exec: `BYTES` kept of stdout and of stderr, each; the reply says truncated when more came (default 65536)")
	f.Uint32Var(&execOpts.MaxConcurrent, "exec-max-concurrent", 0, "exec: `N` runs at once on this listener; more wait (default 4)")
	f.StringVar(&execOpts.WorkingDir, "exec-dir", "", "exec: working `DIR` of the commands, on the daemon's host (default: the daemon's)")
	_ = cmd.MarkFlagRequired("transport") // the flag exists
	return cmd
}

func newListCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List every listener, ordered by id",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.ListListeners, &sockplanev1.ListListenersRequest{})
				if err != nil {
					return err
				}
				return p.list(resp)
			})
		},
	}
}

func newGetCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one listener with its live state and counters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.GetListener, &sockplanev1.GetListenerRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return p.listeners(resp.GetListener())
			})
		},
	}
}

func newStopCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "stop ID...",
		Short: "Close listeners' sockets and connections; they keep their spec and counters",
		Long: `Stop closes each listener's socket, so its port refuses at once, and every
connection. Stopping a stopped listener does nothing. The ids are stopped in
order; one that fails does not keep the others from stopping.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				return eachID(ids, p, func(id string) (*sockplanev1.Listener, error) {
					resp, err := call(ctx, d, d.ls.StopListener, &sockplanev1.StopListenerRequest{Id: id})
					return resp.GetListener(), err
				})
			})
		},
	}
}

func newStartCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "start ID...",
		Short: "Bind stopped listeners again with the same spec",
		Long: `Start binds each stopped listener again with the spec it was created with.
Starting a running listener does nothing. The ids are started in order; one
that fails does not keep the others from starting.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				return eachID(ids, p, func(id string) (*sockplanev1.Listener, error) {
					resp, err := call(ctx, d, d.ls.StartListener, &sockplanev1.StartListenerRequest{Id: id})
					return resp.GetListener(), err
				})
			})
		},
	}
}

func newDeleteCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID...",
		Aliases: []string{"rm"},
		Short:   "Stop listeners and forget them",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				var errs []error
				for _, id := range ids {
					resp, err := call(ctx, d, d.ls.DeleteListener, &sockplanev1.DeleteListenerRequest{Id: id})
					if err == nil {
						err = p.deleted(id, resp)
					}
					errs = append(errs, err)
				}
				return errors.Join(errs...)
			})
		},
	}
}

// eachID calls op for every id, prints the listeners it returned and
// returns the errors of the others.
func eachID(ids []string, p printer, op func(id string) (*sockplanev1.Listener, error)) error {
	var (
		done []*sockplanev1.Listener
		errs []error
	)
	for _, id := range ids {
		l, err := op(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, l)
	}
	if len(done) > 0 {
		if err := p.listeners(done...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
