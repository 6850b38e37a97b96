package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func newNodesCmd(o *daemonOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes of the cluster the daemon belongs to",
		Long: `Nodes lists the daemons of the cluster (sockplane --etcd-endpoints) that the
daemon at --server belongs to: every live node, and every node a listener
names, alive or not. ALIVE says whether its lease in etcd is live; a
listener of a node that is not shows STATE_UNKNOWN. A daemon on its own
answers that it is not in a cluster.`,
		Example: `  sockctl nodes
  sockctl nodes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.ListNodes, &sockplanev1.ListNodesRequest{})
				if err != nil {
					return err
				}
				if p.format == outputJSON || p.format == outputYAML {
					return writeJSON(p.w, resp)
				}
				return p.nodes(resp)
			})
		},
	}
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, callTimeoutHelp)
	return cmd
}

// nodes writes one row per node.
func (p printer) nodes(resp *sockplanev1.ListNodesResponse) error {
	tw := tabwriter.NewWriter(p.w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tGRPC ADDRESS\tALIVE\tLISTENERS\tVERSION\tSTARTED")
	for _, n := range resp.GetNodes() {
		alive, started := "no", "-"
		if n.GetAlive() {
			alive = "yes"
		}
		if n.GetStartedAt() != nil {
			started = p.timestamp(n.GetStartedAt())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", displayWord(n.GetName()), displayWord(n.GetGrpcAddress()), alive, n.GetListeners(), displayWord(n.GetVersion()), started)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
