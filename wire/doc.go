// Package wire is sockplane's wire format: the framings a listener and
// its clients speak, and nothing else. It has no dependency beyond the
// standard library, so a client (sockctl, a test, a load generator) can
// frame and parse messages without linking the engine.
//
// A Codec is a Framing (the tutorial's JSON header, the earlier bare
// length prefix, or raw bytes), the byte order of its 4-byte lengths and
// the size limits that keep a hostile peer from making a reader allocate
// what it declares. Parse decodes frames in place from a buffer, for
// servers; ReadFrame reads one from a bufio.Reader, for clients;
// AppendHeader, AppendFrame and AppendErrorFrame write them.
//
// The zero Codec is the tutorial's default: JSON header framing,
// little-endian lengths, the default limits. WithDefaults is the one
// place those defaults are filled in.
package wire
