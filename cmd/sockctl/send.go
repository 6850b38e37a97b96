package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newSendCmd() *cobra.Command {
	var o frameOptions
	cmd := &cobra.Command{
		Use:   "send ADDR MSG...",
		Short: "Send each MSG to a listener as one frame and print each reply",
		Long: `Send connects to the listener at ADDR, sends each MSG as one frame (a 4-byte
header length, the JSON header {"data_size": N}, N bytes), waits for the reply
frame and prints its body on a line of its own. A reply that carries an error
in its header fails the command.`,
		Example: `  sockctl send 127.0.0.1:9000 hello world
  sockctl send --udp --byte-order big 127.0.0.1:9001 ping`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.dial(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			for _, msg := range args[1:] {
				reply, err := c.roundTrip([]byte(msg))
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(out, "%s\n", reply); err != nil {
					return err
				}
			}
			return nil
		},
	}
	addFrameFlags(cmd, &o)
	return cmd
}
