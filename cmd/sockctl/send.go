package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newSendCmd() *cobra.Command {
	var o frameOptions
	cmd := &cobra.Command{
		Use:   "send (ADDR | --unix PATH | --unixgram PATH) MSG...",
		Short: "Send each MSG to a listener as one message and print each reply",
		Long: `Send connects to a listener, sends each MSG as one message in the request
framing, waits for the reply and prints its body on a line of its own (only
the body: chat shows the reply's header too). A reply that carries an error
in its JSON header fails the command, and so does a reply of an exec listener
whose exit_code is not 0: send prints its body, stops there and exits with
that code.

` + frameFlagsHelp + "\n\n" + listenerTLSHelp,
		Example: `  sockctl send 127.0.0.1:9000 hello world
  sockctl send --udp --byte-order big 127.0.0.1:9001 ping
  sockctl send --unix /tmp/shout.sock hello
  sockctl send --framing raw --unixgram /tmp/dgram.sock hello
  sockctl send --request-framing raw --response-framing json 127.0.0.1:9002 'uname -a'
  sockctl send --tls-ca web.pem 127.0.0.1:9443 hello
  sockctl send --tls-pin 3f2a...e9 --unix /tmp/tls.sock hello
  sockctl send --tls-ca ca.pem --tls-cert client.pem --tls-key client-key.pem 127.0.0.1:9443 hello`,
		Args: o.positionalArgs(true),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			c, msgs, err := o.dial(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer func() {
				if cerr := c.Close(); err == nil {
					err = cerr
				}
			}()
			out := cmd.OutOrStdout()
			for _, msg := range msgs {
				reply, err := c.roundTrip([]byte(msg))
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(out, "%s\n", reply.Body); err != nil {
					return err
				}
				if e := c.checkExit([]byte(msg), reply); e != nil {
					return e
				}
			}
			return nil
		},
	}
	addFrameFlags(cmd, &o)
	return cmd
}
