package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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
		Short:   "Create, update, list, inspect, stop, start and delete the daemon's listeners",
		Args:    cobra.NoArgs,
	}
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on each call to the daemon")
	cmd.AddCommand(
		newCreateCmd(o),
		newUpdateCmd(o),
		newListCmd(o),
		newGetCmd(o),
		newStopCmd(o),
		newStartCmd(o),
		newDeleteCmd(o),
		newRecordingCmd(o),
	)
	return cmd
}

func newCreateCmd(o *daemonOptions) *cobra.Command {
	var (
		id        string
		requestID string
		spec      = newSpecFlags(false)
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
narrows that list for this listener. It is refused on udp and unixgram.

--label (-l) KEY=VALUE labels the listener, for listeners list -l, listeners
delete -l and apply --prune -l to select. --ttl deletes it by itself that long
after it is created. The --limit-* and --capture-* flags left out take the
daemon's defaults, which get shows.

--script FILE makes the listener answer as a script says (--handler script,
which --script implies): a JSON or YAML file of a Script as the REST API
spells it, e.g.

  {"greeting": {"body": "220 ready"},
   "rules": [{"match": {"bodyPrefix": "GET "}, "reply": {"body": "OK"}},
             {"match": {"bodyEquals": "bye"}, "reply": {"body": "BYE", "then": "THEN_CLOSE"}}],
   "default": {"echo": true}}

` + faultFlagHelp + `
--fault-seed N makes the faults' random choices the same at every run.

TLS, on tcp and unix: --tls-self-signed serves a certificate made for the
listener, which get shows in status.tls (certificatePem, fingerprintSha256)
for clients to trust or pin; --tls-cert-file and --tls-key-file serve files
of the daemon's host instead. --tls-client-ca-file requires client
certificates (mutual TLS). sockctl send, chat and bench speak TLS with --tls,
--tls-ca, --tls-pin or --insecure.

--request-id makes the create safe to retry: a retry with the same id and the
same flags returns the listener the first one created.`,
		Example: `  sockctl listeners create --transport tcp --address 127.0.0.1:9000 --handler upper
  sockctl listeners create --id dns-like --transport udp --byte-order big -o json
  sockctl listeners create --transport unix --address /tmp/shout.sock --unix-mode 0660 --handler upper
  sockctl listeners create --transport tcp --handler exec --request-framing raw --exec-allow uname,date --exec-timeout 2s
  sockctl listeners create --id ci-web --transport tcp -l env=ci -l team=web --ttl 1h --limit-max-connections 64
  sockctl listeners create --id smtp-like --transport tcp --script smtp.yaml --framing raw
  sockctl listeners create --transport tcp --fault latency=200ms,jitter=20ms --fault drop,probability=0.1,match.bodyPrefix=slow --fault-seed 42
  sockctl listeners create --id web-tls --transport tcp --address 127.0.0.1:9443 --tls-self-signed --tls-min-version 1.3
  sockctl listeners create --transport tcp --tls-cert-file server.pem --tls-key-file server-key.pem --tls-client-ca-file ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			unix := spec.transport.value == sockplanev1.Transport_TRANSPORT_UNIX || spec.transport.value == sockplanev1.Transport_TRANSPORT_UNIXGRAM
			switch {
			case spec.address == "" && unix:
				return fmt.Errorf("--address PATH is required with --transport %s", spec.transport.name)
			case spec.address == "":
				spec.address = "127.0.0.1:0"
			}
			l, _, err := spec.build(createGiven(f))
			if err != nil {
				return err
			}
			if err := spec.check(createGiven(f)); err != nil {
				return err
			}
			if l.GetHandler() == sockplanev1.Handler_HANDLER_SCRIPT && l.GetScript() == nil {
				return fmt.Errorf("--handler script needs --script FILE: the replies to make")
			}
			l.Id = id
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.CreateListener, &sockplanev1.CreateListenerRequest{Listener: l, RequestId: requestID})
				if err != nil {
					return err
				}
				return p.listeners(resp.GetListener())
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "listener `ID`: lowercase letters, digits and '-' (default: generated, e.g. tcp-5f0c1a2b)")
	spec.register(f, false)
	f.StringVar(&requestID, "request-id", "", "`ID` that makes the create safe to retry, at most 128 characters")
	_ = cmd.MarkFlagRequired("transport") // the flag exists
	return cmd
}

// createAlways are the flags create sends whether given or not: their
// defaults (and --address's 127.0.0.1:0) are create's, not the daemon's.
var createAlways = []string{"address", "handler", "framing", "byte-order"}

// createGiven says which spec flags create sends.
func createGiven(f *pflag.FlagSet) func(string) bool {
	return func(name string) bool { return f.Changed(name) || slices.Contains(createAlways, name) }
}

func newUpdateCmd(o *daemonOptions) *cobra.Command {
	var (
		etag string
		spec = newSpecFlags(true)
	)
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a listener's spec in place: only the fields of the flags given",
		Long: `Update changes the fields of a listener that the flags given set, and no
other: it sends UpdateListener with an update mask of exactly those fields.
A number or duration given as 0 (a string as '') puts its field back to the
daemon's default, but for --limit-idle-timeout 0s, which means never.

--handler, the --exec-*, --capture-* and --limit-* flags, --label and --ttl
apply live: no connection is closed. --framing and its kin apply to the
connections accepted after the update. --address and --transport rebind: the
new socket is bound first (an address in use fails the update and changes
nothing), then the old one stops gracefully.

--label replaces the listener's labels: the labels given are all it has
afterwards (the mask path is "labels", not one label); --label '' removes
them all. --ttl sets the listener to be deleted that long after the update,
replacing any expiry it had.

--script, --fault, --fault-seed and the --tls-* flags but --no-tls apply
live too: the connections open keep going (a new certificate serves the next
handshakes). --script FILE replaces the script and implies --handler script;
--handler anything else removes the script. --fault replaces every fault
with those given, in order (--fault '' removes them all; see create's help
for SPEC). --tls-self-signed replaces --tls-cert-file and --tls-key-file, and
either of those --tls-self-signed. Turning TLS on (any --tls-* flag on a
plaintext listener) or off (--no-tls) rebinds.

--etag, the etag that get -o json shows, makes the update fail (aborted) if
the listener changed since.`,
		Example: `  sockctl listeners update web --handler upper
  sockctl listeners update web -l env=ci -l team=web --ttl 30m
  sockctl listeners update web --limit-max-connections 64 --limit-idle-timeout 0s
  sockctl listeners update web --fault latency=1s,match.bodyPrefix=slow
  sockctl listeners update web --fault ''
  sockctl listeners update mock --script mock.yaml
  sockctl listeners update web --address 127.0.0.1:9001 --etag "$(sockctl listeners get web -o json | jq -r .etag)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := updateRequest(args[0], etag, spec, cmd.Flags())
			if err != nil {
				return err
			}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.UpdateListener, req)
				if err != nil {
					return err
				}
				return p.listeners(resp.GetListener())
			})
		},
	}
	f := cmd.Flags()
	spec.register(f, true)
	f.StringVar(&etag, "etag", "", "update only if the listener's etag is still `ETAG`")
	return cmd
}

// updateRequest is the UpdateListener request of listeners update ID
// with the flags of f: the fields the flags given set, and those fields'
// paths as the mask.
func updateRequest(id, etag string, spec *specFlags, f *pflag.FlagSet) (*sockplanev1.UpdateListenerRequest, error) {
	if err := spec.check(f.Changed); err != nil {
		return nil, err
	}
	l, paths, err := spec.build(f.Changed)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("nothing to update: give the flags of the fields to change, e.g. --handler upper")
	}
	l.Id, l.Etag = id, etag
	return &sockplanev1.UpdateListenerRequest{Listener: l, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}, nil
}

func newListCmd(o *daemonOptions) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:     "list [-l SELECTOR]",
		Aliases: []string{"ls"},
		Short:   "List every listener, or those a label selector matches, ordered by id",
		Long: `List shows every listener, ordered by id; with -l, those whose labels match
the selector, in Kubernetes syntax: "env=ci", "env!=ci", "tier in (a,b)",
"tier notin (a,b)", "env" (has the label), "!env" (has it not), joined by
commas, all of which must hold. It reads every page of the daemon's answer.

-o json prints {"listeners": [...]}, as the REST API's GET /v1/listeners
does, with every page in one list. -o yaml prints the listeners' spec fields,
without status or etag: a file apply -f reads.`,
		Example: `  sockctl listeners list
  sockctl listeners list -l env=ci,team!=web
  sockctl listeners list -l env=ci -o yaml > ci.yaml`,
		Args:        cobra.NoArgs,
		Annotations: yamlOutput,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				ls, err := listAll(ctx, d, selector)
				if err != nil {
					return err
				}
				return p.list(&sockplanev1.ListListenersResponse{Listeners: ls})
			})
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only the listeners whose labels match `SELECTOR`, e.g. env=ci,team!=web")
	return cmd
}

// listPageSize is the page size list asks for: the most the daemon gives.
const listPageSize = 1000

// listAll returns every listener selector matches ("": every listener),
// reading every page.
func listAll(ctx context.Context, d *daemonClient, selector string) ([]*sockplanev1.Listener, error) {
	var (
		all   []*sockplanev1.Listener
		token string
	)
	for {
		resp, err := call(ctx, d, d.ls.ListListeners, &sockplanev1.ListListenersRequest{Filter: selector, PageSize: listPageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetListeners()...)
		next := resp.GetNextPageToken()
		switch {
		case next == "":
			return all, nil
		case next == token:
			return nil, fmt.Errorf("the daemon at %s answered page token %q with itself: cannot list further", d.server, token)
		}
		token = next
	}
}

func newGetCmd(o *daemonOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one listener with its live state and counters",
		Long: `Get shows one listener with its live state and counters. -o json prints it
as the REST API's GET /v1/listeners/ID does. -o yaml prints its spec fields
only, every default filled in, without status or etag: a file that apply -f
reads, so that

  sockctl listeners get web -o yaml > web.yaml && sockctl apply -f web.yaml

prints "unchanged web".`,
		Example: `  sockctl listeners get web
  sockctl listeners get web -o json | jq .status
  sockctl listeners get web -o yaml > web.yaml`,
		Args:        cobra.ExactArgs(1),
		Annotations: yamlOutput,
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

// stopFlags are --mode and --drain-timeout of stop and delete.
type stopFlags struct {
	mode  *enumFlag[sockplanev1.StopMode]
	drain time.Duration
}

func (s *stopFlags) register(f *pflag.FlagSet) {
	s.mode = newEnumFlag(stopModeNames, "")
	f.Var(s.mode, "mode", "graceful: refuse new connections, close idle ones, let the frames in progress finish, then close; immediate: close every connection at once (default graceful)")
	f.DurationVar(&s.drain, "drain-timeout", 0, "bound on a graceful stop; what is left then is closed (default 10s, at most 1m)")
}

// drainTimeout is --drain-timeout as a field: absent when not given.
func (s *stopFlags) drainTimeout(f *pflag.FlagSet) *durationpb.Duration {
	if !f.Changed("drain-timeout") {
		return nil
	}
	return durationpb.New(s.drain)
}

// etagFor checks that --etag, when given, goes with one id.
func etagFor(etag string, ids []string) error {
	if etag != "" && len(ids) != 1 {
		return fmt.Errorf("--etag is for one listener; %d ids given", len(ids))
	}
	return nil
}

const etagHelp = "act only if the listener's etag (get -o json shows it) is still `ETAG`; one ID only"

func newStopCmd(o *daemonOptions) *cobra.Command {
	var (
		stop stopFlags
		etag string
	)
	cmd := &cobra.Command{
		Use:   "stop ID...",
		Short: "Close listeners' sockets and connections; they keep their spec and counters",
		Long: `Stop closes each listener's socket, so its port refuses at once, and its
connections: by default gracefully, letting the frames in progress finish and
be answered for up to --drain-timeout; with --mode immediate, at once.
Stopping a stopped listener does nothing. The ids are stopped in order; one
that fails does not keep the others from stopping.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if err := etagFor(etag, ids); err != nil {
				return err
			}
			drain := stop.drainTimeout(cmd.Flags())
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				return eachID(ids, p, func(id string) (*sockplanev1.Listener, error) {
					resp, err := call(ctx, d, d.ls.StopListener, &sockplanev1.StopListenerRequest{Id: id, Mode: stop.mode.value, DrainTimeout: drain, Etag: etag})
					return resp.GetListener(), err
				})
			})
		},
	}
	stop.register(cmd.Flags())
	cmd.Flags().StringVar(&etag, "etag", "", etagHelp)
	return cmd
}

func newStartCmd(o *daemonOptions) *cobra.Command {
	var etag string
	cmd := &cobra.Command{
		Use:   "start ID...",
		Short: "Bind stopped listeners again with the same spec",
		Long: `Start binds each stopped listener again with the spec it was created with.
Starting a running listener does nothing. The ids are started in order; one
that fails does not keep the others from starting.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if err := etagFor(etag, ids); err != nil {
				return err
			}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				return eachID(ids, p, func(id string) (*sockplanev1.Listener, error) {
					resp, err := call(ctx, d, d.ls.StartListener, &sockplanev1.StartListenerRequest{Id: id, Etag: etag})
					return resp.GetListener(), err
				})
			})
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", etagHelp)
	return cmd
}

func newDeleteCmd(o *daemonOptions) *cobra.Command {
	var (
		stop     stopFlags
		etag     string
		selector string
	)
	cmd := &cobra.Command{
		Use:     "delete (ID... | -l SELECTOR)",
		Aliases: []string{"rm"},
		Short:   "Stop listeners and forget them",
		Long: `Delete stops each listener, as stop does (--mode, --drain-timeout), and
forgets it. The ids are deleted in order; one that fails does not keep the
others from being deleted.

With -l SELECTOR (the syntax of list -l), the daemon deletes, in one call,
every listener the selector matches, and the ids given besides; a line names
each one deleted. There is no delete of every listener.`,
		Example: `  sockctl listeners delete web
  sockctl listeners delete web --mode immediate
  sockctl listeners delete -l env=ci`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && selector == "" {
				return fmt.Errorf("give the IDs of the listeners to delete, or -l SELECTOR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, ids []string) error {
			if err := etagFor(etag, ids); err != nil {
				return err
			}
			drain := stop.drainTimeout(cmd.Flags())
			if selector != "" {
				if etag != "" {
					return fmt.Errorf("--etag is for one listener, not with -l")
				}
				return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
					resp, err := call(ctx, d, d.ls.BatchDeleteListeners, &sockplanev1.BatchDeleteListenersRequest{
						Filter: selector, Ids: ids, Mode: stop.mode.value, DrainTimeout: drain,
					})
					if err != nil {
						return err
					}
					return p.batchDeleted(resp)
				})
			}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				var errs []error
				for _, id := range ids {
					resp, err := call(ctx, d, d.ls.DeleteListener, &sockplanev1.DeleteListenerRequest{Id: id, Mode: stop.mode.value, DrainTimeout: drain, Etag: etag})
					if err == nil {
						err = p.deleted(id, resp)
					}
					errs = append(errs, err)
				}
				return errors.Join(errs...)
			})
		},
	}
	f := cmd.Flags()
	stop.register(f)
	f.StringVar(&etag, "etag", "", etagHelp)
	f.StringVarP(&selector, "selector", "l", "", "delete every listener whose labels match `SELECTOR`, e.g. env=ci")
	return cmd
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
