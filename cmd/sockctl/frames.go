package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sockplane/sockplane/wire"
	"github.com/spf13/cobra"
)

// maxDatagram is the receive buffer of a datagram reply: the largest UDP
// payload fits. A larger Unix datagram is reported as truncated rather
// than cut silently.
const maxDatagram = 64 << 10

// frameOptions are the flags of the commands that talk to a listener.
type frameOptions struct {
	// udp sends datagrams to ADDR instead of a TCP stream. Default: false.
	udp bool
	// unix is the path of a Unix stream socket to connect to instead of
	// ADDR. Default: none.
	unix string
	// unixgram is the path of a Unix datagram socket to send to instead of
	// ADDR. Default: none.
	unixgram string
	// framing of requests and responses both. Default: json.
	framing *enumFlag[wire.Framing]
	// requestFraming and responseFraming, when set, override framing for
	// their side. Default: unset.
	requestFraming, responseFraming *enumFlag[wire.Framing]
	// byteOrder of the 4-byte lengths. Default: little.
	byteOrder *enumFlag[wire.ByteOrder]
	// timeout bounds the connect, the TLS handshake and each reply.
	// Default: 5s.
	timeout time.Duration
	// tls is the listener's TLS. Default: off.
	tls listenerTLS
}

// frameFlagsHelp is the part of send's and chat's help that explains the
// flags shared by both.
const frameFlagsHelp = `The listener: ADDR is HOST:PORT, over TCP, or over UDP with --udp. With
--unix PATH or --unixgram PATH it is the Unix stream or datagram socket at
PATH instead, and no ADDR is given. For --unixgram, sockctl binds a socket of
its own in a new temporary directory, where the replies come, and removes it
when it exits; the daemon must be able to write there, so run sockctl as the
daemon's user.

Framing, which must match the listener's: --framing sets both directions,
--request-framing and --response-framing override it for one direction.
  json    a 4-byte header length, the JSON header {"data_size": N}, N bytes
  length  a 4-byte body length, then the body
  raw     no framing: a request is sent with one write; a reply is what one
          read returns, or one datagram (the tutorial's recv(1024))
--byte-order gives the order of the 4-byte lengths: little is Python's
struct.pack("i"), big is struct.pack("!i").`

// addFrameFlags defines the flags of o on cmd.
func addFrameFlags(cmd *cobra.Command, o *frameOptions) {
	o.framing = newEnumFlag(codecFramingNames, "json")
	o.requestFraming = newEnumFlag(codecFramingNames, "")
	o.responseFraming = newEnumFlag(codecFramingNames, "")
	o.byteOrder = newEnumFlag(byteOrderNames, "little")
	f := cmd.Flags()
	f.BoolVar(&o.udp, "udp", false, "send UDP datagrams to ADDR, one message each, instead of a TCP stream")
	f.StringVar(&o.unix, "unix", "", "talk to the Unix stream socket at `PATH` instead of an ADDR")
	f.StringVar(&o.unixgram, "unixgram", "", "talk to the Unix datagram socket at `PATH` instead of an ADDR")
	f.Var(o.framing, "framing", "framing of requests and replies")
	f.Var(o.requestFraming, "request-framing", "framing of requests (default: --framing)")
	f.Var(o.responseFraming, "response-framing", "framing of replies (default: --framing)")
	f.Var(o.byteOrder, "byte-order", "byte order of the 4-byte lengths")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "bound on the connect (with the TLS handshake) and on each reply")
	cmd.MarkFlagsMutuallyExclusive("udp", "unix", "unixgram")
	o.tls.addFlags(cmd)
}

// socketFlag names the flag that gave a Unix socket path, or is empty
// when the listener is an ADDR argument.
func (o *frameOptions) socketFlag() string {
	switch {
	case o.unix != "":
		return "--unix"
	case o.unixgram != "":
		return "--unixgram"
	}
	return ""
}

// endpoint returns the network and address to talk to, and the
// arguments after ADDR (all of them with --unix and --unixgram). The
// command's Args check has made sure ADDR is there when it must be.
func (o *frameOptions) endpoint(args []string) (network, addr string, rest []string) {
	switch {
	case o.unix != "":
		return "unix", o.unix, args
	case o.unixgram != "":
		return "unixgram", o.unixgram, args
	case o.udp:
		return "udp", args[0], args[1:]
	}
	return "tcp", args[0], args[1:]
}

// codecs returns the codecs of requests and replies: --framing, unless
// --request-framing or --response-framing overrides it.
func (o *frameOptions) codecs() (request, response wire.Codec) {
	request.Framing, response.Framing = o.framing.value, o.framing.value
	if o.requestFraming.name != "" {
		request.Framing = o.requestFraming.value
	}
	if o.responseFraming.name != "" {
		response.Framing = o.responseFraming.value
	}
	request.ByteOrder, response.ByteOrder = o.byteOrder.value, o.byteOrder.value
	return request, response
}

// dial connects to the listener given by the flags and args, and returns
// the connection and the arguments after ADDR. Cancelling ctx (a signal)
// closes the connection, so that a pending read ends at once.
func (o *frameOptions) dial(ctx context.Context, args []string) (*frameConn, []string, error) {
	network, addr, rest := o.endpoint(args)
	if err := o.tls.check(network); err != nil {
		return nil, nil, err
	}
	tlsConfig, err := o.tls.config(network, addr)
	if err != nil {
		return nil, nil, err
	}
	d := net.Dialer{Timeout: o.timeout}
	var removeLocal func() error
	if network == "unixgram" {
		// A datagram socket that is not bound has no address for the
		// replies to go to, so it gets one of its own in a directory
		// only this user can enter.
		dir, err := os.MkdirTemp("", "sockctl-")
		if err != nil {
			return nil, nil, fmt.Errorf("create the directory of the reply socket: %w", err)
		}
		removeLocal = func() error { return os.RemoveAll(dir) }
		d.LocalAddr = &net.UnixAddr{Name: filepath.Join(dir, "reply.sock"), Net: network}
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		if removeLocal != nil {
			_ = removeLocal()
		}
		return nil, nil, err // "dial tcp 127.0.0.1:9000: connect: connection refused"
	}
	if tlsConfig != nil {
		hctx, cancel := context.WithTimeout(ctx, o.timeout)
		conn, err = handshake(hctx, conn, tlsConfig, addr)
		cancel()
		if err != nil {
			return nil, nil, err
		}
	}
	request, response := o.codecs()
	c := &frameConn{
		conn:        conn,
		addr:        addr,
		ctx:         ctx,
		request:     request,
		response:    response,
		stream:      network == "tcp" || network == "unix",
		timeout:     o.timeout,
		removeLocal: removeLocal,
		tls:         tlsConfig != nil,
		clientCert:  tlsConfig != nil && len(tlsConfig.Certificates) > 0,
	}
	c.stopAfter = context.AfterFunc(ctx, func() { _ = conn.Close() })
	if c.stream {
		c.br = bufio.NewReader(conn)
	} else {
		c.dgram = make([]byte, maxDatagram)
	}
	return c, rest, nil
}

// frameConn sends request messages to a listener and reads one reply to
// each: over a stream from the byte stream, over datagrams one datagram
// per message.
type frameConn struct {
	conn              net.Conn
	addr              string          // as the user wrote it, for error messages
	ctx               context.Context // its end closes conn
	request, response wire.Codec
	stream            bool
	timeout           time.Duration
	br                *bufio.Reader // streams only
	dgram             []byte        // datagrams only: the receive buffer
	wbuf              []byte        // the message being sent
	stopAfter         func() bool   // undoes the close on ctx's end
	removeLocal       func() error  // unixgram only: removes the reply socket
	// tls and clientCert say whether TLS is on and a client certificate
	// was sent; replied whether a reply came. For the hints of errors.
	tls, clientCert, replied bool
}

// Close closes the connection and removes the reply socket of a Unix
// datagram client.
func (c *frameConn) Close() error {
	c.stopAfter()
	err := c.conn.Close()
	if c.removeLocal != nil {
		if rerr := c.removeLocal(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the reply socket: %w", rerr))
		}
	}
	return err
}

// errEmptyRawStream refuses what would wait forever: an empty write puts
// nothing on a stream, so the listener never sees a message to reply to.
var errEmptyRawStream = errors.New("an empty message cannot be sent with the raw request framing over a stream: nothing would go out")

// roundTrip sends body as one message and returns the reply, whose
// header is the JSON header as received (nil for the other framings).
// The reply is valid until the next call. Sending and receiving must end
// within the timeout. A reply whose header holds an "error" is a
// *serverError.
func (c *frameConn) roundTrip(body []byte) (wire.Frame, error) {
	if len(body) == 0 && c.stream && c.request.Framing == wire.FramingRaw {
		return wire.Frame{}, errEmptyRawStream
	}
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return wire.Frame{}, c.ioError("set a deadline on", err)
	}
	var err error
	if c.wbuf, err = c.request.AppendFrame(c.wbuf[:0], body); err != nil {
		return wire.Frame{}, fmt.Errorf("encode message: %w", err)
	}
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return wire.Frame{}, c.ioError("send to", err)
	}
	f, err := c.readFrame()
	if err != nil {
		return wire.Frame{}, err
	}
	if err := c.checkJSONFramed(f, body); err != nil {
		return wire.Frame{}, err
	}
	first := !c.replied
	c.replied = true
	if msg, ok := headerError(f.Header); ok {
		se := &serverError{addr: c.addr, msg: msg}
		if first && unreadableRequest(msg) {
			se.hint = requestFramingHint
		}
		return wire.Frame{}, se
	}
	return f, nil
}

// readFrame reads one reply.
func (c *frameConn) readFrame() (wire.Frame, error) {
	if !c.stream {
		n, err := readDatagram(c.conn, c.dgram)
		if err != nil {
			return wire.Frame{}, c.ioError("read reply from", err)
		}
		f, err := c.response.ParseDatagram(c.dgram[:n])
		if err != nil {
			return wire.Frame{}, fmt.Errorf("bad reply from %s (are --response-framing and --byte-order right?%s): %w", c.addr, textReplyHint(c.dgram[:min(n, 32)]), err)
		}
		return f, nil
	}
	var (
		f    wire.Frame
		head []byte // the reply's first bytes, for the hint if it does not parse
		err  error
	)
	// Peek waits for the first byte, as ReadFrame would. Not for a raw
	// reply, which always parses, and is what one read of the socket
	// returns: peeking would make it one read of the smaller buffer.
	if c.response.Framing != wire.FramingRaw {
		if head, err = c.br.Peek(1); err == nil {
			head, _ = c.br.Peek(min(c.br.Buffered(), 32))
			head = bytes.Clone(head)
		}
	}
	if err == nil {
		f, err = c.response.ReadFrame(c.br)
	}
	switch {
	case err == nil:
		return f, nil
	case c.ctx.Err() != nil:
		return f, c.ioError("read reply from", err)
	case err == io.EOF:
		return f, fmt.Errorf("connection closed by %s%s", c.addr, c.hint(err))
	case err == io.ErrUnexpectedEOF:
		return f, fmt.Errorf("connection closed by %s in the middle of a reply", c.addr)
	case errors.Is(err, wire.ErrMalformedFrame), errors.Is(err, wire.ErrFrameTooLarge):
		return f, fmt.Errorf("bad reply from %s (are --response-framing and --byte-order right?%s): %w", c.addr, textReplyHint(head), err)
	}
	return f, c.ioError("read reply from", err)
}

// errTruncated means a reply datagram did not fit the receive buffer.
var errTruncated = fmt.Errorf("reply datagram larger than %d bytes, truncated", maxDatagram)

// readDatagram reads one datagram into buf. A Unix datagram may be
// larger than buf; one that was cut short is an error rather than a
// reply with its end missing.
func readDatagram(conn net.Conn, buf []byte) (int, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return conn.Read(buf) // a UDP payload always fits in maxDatagram
	}
	n, _, flags, _, err := uc.ReadMsgUnix(buf, nil)
	if err == nil && flags&syscall.MSG_TRUNC != 0 {
		err = errTruncated
	}
	return n, err
}

// ioError words a failed read or write: a deadline becomes "no reply",
// and an ended context (Ctrl-C), which closed the connection,
// "interrupted".
func (c *frameConn) ioError(op string, err error) error {
	if c.ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", context.Cause(c.ctx))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no reply from %s within %v: %w", c.addr, c.timeout, os.ErrDeadlineExceeded)
	}
	return fmt.Errorf("%s %s: %w%s", op, c.addr, err, c.hint(err))
}

// hint is what tlsHint says of err while no reply has come on c: a
// listener that answered has no TLS setting at odds with c's. A
// connection closed unanswered may also be a request the listener could
// not read.
func (c *frameConn) hint(err error) string {
	if !c.stream || c.replied {
		return ""
	}
	h := tlsHint(err, c.tls, c.clientCert)
	if err != io.EOF {
		return h
	}
	// Only the JSON header framing has error frames: a length or raw
	// listener that cannot read a request just closes the connection.
	if h == "" {
		return requestFramingHint
	}
	return h + " (or " + strings.TrimPrefix(requestFramingHint, " (")
}

// serverError is the error a listener reported in a reply's header, as
// in {"error": "malformed frame: ...", "data_size": 0}. A stream listener
// closes the connection after it.
type serverError struct {
	addr string
	msg  string
	hint string // a guess at the mistake, or empty
}

func (e *serverError) Error() string { return e.addr + " replied with an error: " + e.msg + e.hint }

// headerError returns the "error" field of a JSON header, if it has one.
func headerError(header []byte) (string, bool) {
	if header == nil {
		return "", false
	}
	var h struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(header, &h); err != nil || len(h.Error) == 0 || string(h.Error) == "null" {
		return "", false
	}
	var msg string
	if err := json.Unmarshal(h.Error, &msg); err != nil {
		return string(h.Error), true // not a string: show the JSON
	}
	return msg, true
}

// positionalArgs checks the arguments of send (msgs true: MSG... after
// the address) and chat (msgs false: nothing after it). The address is
// the first argument, ADDR, unless --unix or --unixgram gave a path: then
// there is no ADDR, so that a message is never taken for one.
func (o *frameOptions) positionalArgs(msgs bool) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		flag := o.socketFlag()
		switch {
		case flag != "" && msgs && len(args) == 0:
			return fmt.Errorf("requires at least one MSG after %s PATH", flag)
		case flag != "" && !msgs && len(args) > 0:
			return fmt.Errorf("takes no ADDR with %s PATH, got %q", flag, args)
		case flag == "" && msgs && len(args) < 2:
			return fmt.Errorf("requires ADDR and at least one MSG (or --unix PATH or --unixgram PATH and at least one MSG), got %d argument(s)", len(args))
		case flag == "" && !msgs && len(args) != 1:
			return fmt.Errorf("requires exactly one ADDR (or --unix PATH or --unixgram PATH and none), got %d argument(s)", len(args))
		}
		return nil
	}
}
