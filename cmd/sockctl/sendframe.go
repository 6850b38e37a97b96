package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func newSendFrameCmd(o *daemonOptions) *cobra.Command {
	var (
		headers    []string
		headerJSON string
		bodyFile   string
		bodyHex    string
	)
	cmd := &cobra.Command{
		Use:   "send-frame LISTENER_ID CONNECTION_ID (BODY | --body-file FILE | --body-hex HEX)",
		Short: "Write one frame to a connection of a listener, as if its handler replied",
		Long: `Send-frame has the daemon write one frame to a connection (a datagram peer of
a udp or unixgram listener), in the listener's response framing, whole,
between the frames its handler writes. With the record handler, which replies
nothing, this is how an operator answers: the tutorial's chat server.

The body is BODY, or the bytes of --body-file (- for standard input), or
--body-hex. The JSON header framing adds {"data_size": N} and the fields of
--header-json, then of --header, which replace fields of the same name. A
--header value that is JSON is sent as that JSON: exit_code=0 is the number
0, ok=true a boolean, tags='["a","b"]' a list; any other value is a string:
name=bob is "bob", and name='"true"' the string "true". Numbers are JSON's
doubles: an integer beyond 2^53 is refused (quote it to send a string). The
other framings have no header, and send the body alone.

The number printed is the bytes written, framing included.`,
		Example: `  sockctl send-frame chat 3 'hello from the operator'
  sockctl send-frame cmd 3 'done' --header exit_code=0 --header ok=true
  sockctl send-frame cmd 3 '' --header-json '{"exit_code": 1, "stderr_size": 0}'
  sockctl send-frame dgram 7 --body-hex 00ff10
  sockctl send-frame chat 3 --body-file reply.bin`,
		Args: func(cmd *cobra.Command, args []string) error {
			fromFlag := cmd.Flags().Changed("body-file") || cmd.Flags().Changed("body-hex")
			switch {
			case fromFlag && len(args) != 2:
				return fmt.Errorf("requires LISTENER_ID and CONNECTION_ID only when --body-file or --body-hex gives the body, got %d argument(s)", len(args))
			case !fromFlag && len(args) != 3:
				return fmt.Errorf("requires LISTENER_ID, CONNECTION_ID and BODY (or --body-file FILE or --body-hex HEX instead of BODY), got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			header, err := frameHeader(headerJSON, headers)
			if err != nil {
				return err
			}
			var body []byte
			switch f := cmd.Flags(); {
			case f.Changed("body-file"):
				if body, err = readBodyFile(cmd.InOrStdin(), bodyFile); err != nil {
					return err
				}
			case f.Changed("body-hex"):
				if body, err = decodeHex(bodyHex); err != nil {
					return err
				}
			default:
				body = []byte(args[2])
			}
			req := &sockplanev1.SendFrameRequest{Id: args[0], ConnectionId: args[1], Body: body, Header: header}
			return o.withDaemon(cmd, func(ctx context.Context, d *daemonClient, p printer) error {
				resp, err := call(ctx, d, d.ls.SendFrame, req)
				if err != nil {
					return err
				}
				return p.sentFrame(args[1], resp)
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&headers, "header", nil, "add `KEY=VALUE` to the JSON header, VALUE as JSON when it is JSON, else as a string (repeatable)")
	f.StringVar(&headerJSON, "header-json", "", "add the fields of the JSON `OBJECT` to the JSON header")
	f.StringVar(&bodyFile, "body-file", "", "send the bytes of `FILE` (- for standard input) instead of BODY")
	f.StringVar(&bodyHex, "body-hex", "", "send the bytes `HEX` spells (spaces allowed) instead of BODY")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, callTimeoutHelp)
	cmd.MarkFlagsMutuallyExclusive("body-file", "body-hex")
	return cmd
}

// frameHeader builds the extra header of a SendFrame: the object of
// --header-json, then each --header KEY=VALUE, a later field replacing an
// earlier one of the same name. It is nil when there is none.
func frameHeader(headerJSON string, headers []string) (*structpb.Struct, error) {
	fields := map[string]any{}
	if headerJSON != "" {
		v, err := decodeJSON(headerJSON)
		if err != nil {
			return nil, fmt.Errorf("--header-json: %w", err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`--header-json: want a JSON object, e.g. '{"exit_code": 0}', got %s`, headerJSON)
		}
		fields = obj
	}
	for _, h := range headers {
		key, value, ok := strings.Cut(h, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("--header %q: want KEY=VALUE, e.g. exit_code=0", h)
		}
		v, err := decodeJSON(value)
		switch {
		case errors.Is(err, errNotJSON):
			v = value // not JSON: a string
		case err != nil:
			return nil, fmt.Errorf("--header %q: %w", h, err)
		}
		fields[key] = v
	}
	if len(fields) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err) // decodeJSON returns only what a Struct holds
	}
	return s, nil
}

// errNotJSON means a text is not one JSON value.
var errNotJSON = errors.New("not JSON")

// maxExactInteger is the largest integer a double, and so a number of a
// google.protobuf.Struct, holds exactly: 2^53.
const maxExactInteger = 1 << 53

// decodeJSON decodes one JSON value into the types structpb takes:
// numbers become float64, and an integer a float64 would change is
// refused rather than sent wrong. A text that is not one JSON value is
// errNotJSON.
func decodeJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more after the value", errNotJSON)
	}
	return exactNumbers(v)
}

// exactNumbers replaces the json.Numbers in v with float64s.
func exactNumbers(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if !strings.ContainsAny(v.String(), ".eE") {
			i, err := strconv.ParseInt(v.String(), 10, 64)
			if err != nil || i > maxExactInteger || i < -maxExactInteger {
				return nil, fmt.Errorf("integer %s is too large for a JSON header number (at most 2^53); quote it to send a string", v)
			}
			return float64(i), nil
		}
		f, err := strconv.ParseFloat(v.String(), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", v, err)
		}
		return f, nil
	case map[string]any:
		for k, e := range v {
			n, err := exactNumbers(e)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
	case []any:
		for i, e := range v {
			n, err := exactNumbers(e)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
	}
	return v, nil
}

// readBodyFile reads the body of --body-file: the file, or stdin for "-".
func readBodyFile(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("--body-file -: read standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--body-file: %w", err) // the error names the path
	}
	return b, nil
}

// decodeHex decodes --body-hex, which may hold spaces between bytes.
func decodeHex(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("--body-hex: %w", err)
	}
	return b, nil
}
