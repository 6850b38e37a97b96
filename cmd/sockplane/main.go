// Command sockplane is the sockplane daemon: a gRPC API, and the same API
// as REST through grpc-gateway, that start, stop and inspect raw TCP and
// UDP listeners at run time.
//
//	sockplane [--grpc-addr 127.0.0.1:7070] [--http-addr 127.0.0.1:7080]
//	          [--auth-token-file FILE] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sockplane:", err)
		os.Exit(1)
	}
}

// run parses args, serves until SIGINT or SIGTERM, then shuts down within
// --shutdown-timeout. It returns nil after a clean shutdown.
func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cmd := newCommand(func(opts options) error {
		logger, err := opts.logger(os.Stderr)
		if err != nil {
			return err
		}
		d, err := newDaemon(opts, logger)
		if err != nil {
			return err
		}
		return d.serve(ctx)
	})
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}
