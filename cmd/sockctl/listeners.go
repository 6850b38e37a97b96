package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

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
}

// withDaemon connects to the daemon, runs f with the client and a printer
// on cmd's output, and closes the connection.
func (o *daemonOptions) withDaemon(cmd *cobra.Command, f func(context.Context, *daemonClient, printer) error) error {
	d, err := dialDaemon(o.server, o.timeout)
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

func newCreateCmd(o *daemonOptions) *cobra.Command {
	var (
		id        string
		address   string
		transport = newEnumFlag(transportNames, "")
		handler   = newEnumFlag(handlerNames, "echo")
		framing   = newEnumFlag(framingNames, "json")
		byteOrder = newEnumFlag(protoByteOrderNames, "little")
	)
	cmd := &cobra.Command{
		Use:   "create --transport tcp|udp [flags]",
		Short: "Bind a new listener and start serving it",
		Long: `Create binds a new listener and starts serving it. The bind happens before
the command returns: an address in use fails it and nothing is created.
With port 0 the kernel picks a free port; ADDRESS shows the real one.`,
		Example: `  sockctl listeners create --transport tcp --address 127.0.0.1:9000 --handler upper
  sockctl listeners create --id dns-like --transport udp --byte-order big -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	f.StringVar(&address, "address", "127.0.0.1:0", "bind to `HOST:PORT`; port 0 picks a free port")
	f.Var(handler, "handler", "what to reply: echo the body, or upper-case its ASCII letters")
	f.Var(framing, "framing", "framing of requests and responses; json: 4-byte length, JSON header, body")
	f.Var(byteOrder, "byte-order", "byte order of the 4-byte lengths")
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
