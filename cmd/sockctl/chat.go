package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sockplane/sockplane/rawsock"
)

// prompt is what chat prints before it reads a line.
const prompt = ">>> "

func newChatCmd() *cobra.Command {
	var o frameOptions
	cmd := &cobra.Command{
		Use:   "chat ADDR",
		Short: "Send each line typed to a listener as one frame and print each reply",
		Long: `Chat is the tutorial's client: it prompts with ">>> ", reads a line, strips the
spaces around it, sends it to the listener at ADDR as one frame and prints the
reply's body. Empty lines are skipped. It ends at the end of input (Ctrl-D),
or with an error when the listener closes the connection or sends an error.`,
		Example: `  sockctl chat 127.0.0.1:9000
  printf 'hello\nworld\n' | sockctl chat --udp 127.0.0.1:9001`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.dial(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			return chat(c, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	addFrameFlags(cmd, &o)
	return cmd
}

// chat runs the prompt loop until in ends, then ends the last prompt's
// line and returns nil.
func chat(c *frameConn, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, rawsock.DefaultMaxBodyBytes) // a line is at most a body
	for {
		if _, err := io.WriteString(out, prompt); err != nil {
			return err
		}
		if !sc.Scan() {
			break
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		reply, err := c.roundTrip(line)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(out, "%s\n", reply); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	_, err := io.WriteString(out, "\n")
	return err
}
