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
// The engine knows nothing of ids, desired state, stores or APIs: package
// registry keeps named listeners built from specs, and package api serves
// it over gRPC and REST. A zero Config field means the engine's default,
// filled in by NewListener.
package rawsock
