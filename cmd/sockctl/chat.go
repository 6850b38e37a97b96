package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/sockplane/sockplane/wire"
	"github.com/spf13/cobra"
)

// prompt is what chat prints before it reads a line.
const prompt = ">>> "

func newChatCmd() *cobra.Command {
	var o frameOptions
	cmd := &cobra.Command{
		Use:   "chat (ADDR | --unix PATH | --unixgram PATH)",
		Short: "Send each line typed to a listener as one message and print each reply",
		Long: `Chat is the tutorial's client: it prompts with ">>> ", reads a line, strips the
spaces around it, sends it to the listener as one message and prints the
reply. When the reply has a JSON header (--response-framing json, the
default) chat prints the header as received on a line of its own, as the
tutorial's client prints head_dic, and the body after it. Empty lines are
skipped. Chat ends at the end of input (Ctrl-D), on Ctrl-C, or with an error
when the listener closes the connection or sends an error. A reply of an exec
listener whose exit_code is not 0 is said on stderr and the chat goes on; at
the end chat exits with the last such code.

` + frameFlagsHelp + "\n\n" + listenerTLSHelp,
		Example: `  sockctl chat 127.0.0.1:9000
  printf 'hello\nworld\n' | sockctl chat --udp 127.0.0.1:9001
  sockctl chat --request-framing raw --unix /tmp/cmd.sock
  sockctl chat --insecure 127.0.0.1:9443`,
		Args: o.positionalArgs(false),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			c, _, err := o.dial(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer func() {
				if cerr := c.Close(); err == nil {
					err = cerr
				}
			}()
			return chat(cmd.Context(), c, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addFrameFlags(cmd, &o)
	return cmd
}

// chat runs the prompt loop until in ends, then ends the last prompt's
// line and returns nil, or a *chatFailures when exec replies reported a
// non-zero exit_code: each is said on errOut as it comes, and the chat
// goes on. It returns early when ctx ends.
func chat(ctx context.Context, c *frameConn, in io.Reader, out, errOut io.Writer) error {
	var failed chatFailures
	done := make(chan struct{})
	defer close(done)
	lines := scanLines(in, done)
	for {
		if _, err := io.WriteString(out, prompt); err != nil {
			return err
		}
		var (
			l  inputLine
			ok bool
		)
		select {
		case l, ok = <-lines:
		case <-ctx.Done():
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		if !ok {
			break
		}
		if l.err != nil {
			return fmt.Errorf("read input: %w", l.err)
		}
		line := bytes.TrimSpace(l.text)
		if len(line) == 0 {
			continue
		}
		reply, err := c.roundTrip(line)
		if err != nil {
			return err
		}
		if reply.Header != nil {
			if _, err := fmt.Fprintf(out, "%s\n", reply.Header); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(out, "%s\n", reply.Body); err != nil {
			return err
		}
		if e := c.checkExit(line, reply); e != nil {
			failed.n++
			failed.last = e
			if _, err := fmt.Fprintln(errOut, "sockctl:", e); err != nil {
				return err
			}
		}
	}
	if _, err := io.WriteString(out, "\n"); err != nil {
		return err
	}
	if failed.n > 0 {
		return &failed
	}
	return nil
}

// inputLine is a line read by scanLines, or the error that ended the
// input.
type inputLine struct {
	text []byte
	err  error
}

// scanLines reads the lines of in on a goroutine of its own, so that
// chat can end on Ctrl-C while it waits for input, and sends them on the
// channel it returns. At the end of in it sends the read error, if any,
// and closes the channel. It stops early when done is closed; a read
// that blocks then stays blocked until the process exits, which is what
// chat is about to do.
func scanLines(in io.Reader, done <-chan struct{}) <-chan inputLine {
	lines := make(chan inputLine)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(nil, wire.DefaultMaxBodyBytes) // a line is at most a body
		for sc.Scan() {
			select {
			case lines <- inputLine{text: bytes.Clone(sc.Bytes())}:
			case <-done:
				return
			}
		}
		if err := sc.Err(); err != nil {
			select {
			case lines <- inputLine{err: err}:
			case <-done:
			}
		}
	}()
	return lines
}
