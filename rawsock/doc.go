// Package rawsock is sockplane's socket engine: it binds TCP and UDP
// sockets, accepts and reads from them, splits the byte stream into frames
// and hands each frame to a Handler.
//
// The pieces mirror net/http:
//
//   - A Codec describes a framing (how messages are delimited on the wire)
//     and the limits that keep a hostile peer from making the engine allocate
//     what it declares.
//   - A Handler serves one request frame through a ResponseWriter; Echo and
//     Upper are the built-in ones, HandlerFunc adapts a function.
//   - A Listener owns one socket, its accept or read loop and its
//     connections. Start binds synchronously and reports the real address;
//     Shutdown drains; Close is the hard stop; ErrListenerClosed marks the
//     end.
//   - A Registry keeps named listeners built from Specs, so that they can be
//     stopped, started again and inspected. It is what the gRPC API adapts.
//
// rawsock knows nothing about gRPC or protobuf.
package rawsock
