// Package rawsock is sockplane's socket engine: it binds TCP, UDP and
// Unix-domain sockets, accepts and reads from them, splits the byte
// stream into frames of a wire.Codec and hands each frame to a Handler.
//
// The pieces mirror net/http:
//
//   - A Handler serves one request frame through a ResponseWriter; Echo,
//     Upper and Discard are the built-in ones, HandlerFunc adapts a
//     function (package command has the exec handler).
//   - A Listener owns one socket, its accept or read loop and its
//     connections, with their limits, counters (Stats), frame capture
//     (Capture) and events (EventBus). Start binds synchronously and
//     reports the real address; Shutdown drains until its context ends;
//     Close is the hard stop; ErrListenerClosed marks the end.
//
// How a stream connection is served: it costs no goroutine while it
// waits. An idle plaintext connection sits in the epoll set of one of
// its listener's pollers (poller.go); when bytes arrive, the poller
// serves it itself if its handler is NonBlocking and nothing else needs
// a goroutine (faults, a ConnOpener, a frame over 64 KiB, a reply the
// socket does not take whole), reading into and replying from buffers
// it lends for the wake-up (pollbuf.go); otherwise it hands the
// connection to a goroutine, which parks it on the poller again once it
// stays idle. A plaintext connection whose ConnOpener relays it to a
// plaintext socket of its own (a SocketRelay: the proxy) has both sockets
// in the poller's set, which relays each way itself, bytes or frames,
// while nothing but a latency fault on replies is asked of it
// (relay.go). TLS connections keep a goroutine. Plaintext sockets are
// read and written with raw system calls on either path (package
// internal/sockio). An echo of a body of 256 KiB or more goes from the
// socket back to it as it arrives, through a small ring buffer or a pipe
// (cutthrough.go). Replies held by a
// fault or a Delay wait in one schedule per listener, written when due
// by one goroutine (heldwriter.go), which, like Timers, wakes on a
// timerfd rather than the runtime's timers, whose granularity in an idle
// process is a millisecond (heldclock.go, duequeue.go).
//
// The engine knows nothing of ids, desired state, stores or APIs: package
// registry keeps named listeners built from specs, and package api serves
// it over gRPC and REST. A zero Config field means the engine's default,
// filled in by NewListener.
package rawsock
