package main

import (
	"context"
	"net"
	"slices"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

func dialGRPC(t *testing.T, d *daemon) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(d.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestGRPCReflectionAndHealth: what `grpcurl -plaintext ADDR list` and a
// health probe see, with no .proto file at hand.
func TestGRPCReflectionAndHealth(t *testing.T) {
	conn := dialGRPC(t, startDaemon(t))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"sockplane.v1.ListenerService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}
	_ = stream.CloseSend()

	// The file descriptor of the service resolves too (grpcurl describe).
	stream, err = reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "sockplane.v1.ListenerService"},
	})
	if resp, err := stream.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("describe: %v %v", resp, err)
	}
	_ = stream.CloseSend()

	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "sockplane.v1.ListenerService"} {
		hr, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v", service, hr, err)
		}
	}
}

// TestGRPCLifecycle drives the service with the generated client and
// checks the codes of the error table.
func TestGRPCLifecycle(t *testing.T) {
	client := sockplanev1.NewListenerServiceClient(dialGRPC(t, startDaemon(t)))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	created, err := client.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
		Id: "g1", Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0",
		Handler: sockplanev1.Handler_HANDLER_ECHO,
		Framing: &sockplanev1.FramingConfig{ByteOrder: sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN},
		Status:  &sockplanev1.ListenerStatus{State: sockplanev1.State_STATE_FAILED}, // output only: ignored
	}})
	if err != nil {
		t.Fatal(err)
	}
	l := created.GetListener()
	if l.GetStatus().GetState() != sockplanev1.State_STATE_RUNNING || l.GetFraming().GetRequest() != sockplanev1.Framing_FRAMING_JSON_HEADER ||
		l.GetFraming().GetByteOrder() != sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN || l.GetStatus().GetStartedAt() == nil {
		t.Fatalf("created %v", l)
	}

	for _, tt := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"create without listener", func() error {
			_, err := client.CreateListener(ctx, &sockplanev1.CreateListenerRequest{})
			return err
		}, codes.InvalidArgument},
		{"duplicate", func() error {
			_, err := client.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
				Id: "g1", Transport: sockplanev1.Transport_TRANSPORT_UDP, Address: "127.0.0.1:0"}})
			return err
		}, codes.AlreadyExists},
		{"address in use", func() error {
			_, err := client.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
				Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: l.GetStatus().GetBoundAddress()}})
			return err
		}, codes.AlreadyExists},
		{"get unknown", func() error {
			_, err := client.GetListener(ctx, &sockplanev1.GetListenerRequest{Id: "nope"})
			return err
		}, codes.NotFound},
		{"get empty id", func() error {
			_, err := client.GetListener(ctx, &sockplanev1.GetListenerRequest{})
			return err
		}, codes.InvalidArgument},
		{"unknown handler value", func() error {
			_, err := client.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
				Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0", Handler: 77}})
			return err
		}, codes.InvalidArgument},
	} {
		if got := status.Code(tt.call()); got != tt.code {
			t.Errorf("%s: code %v, want %v", tt.name, got, tt.code)
		}
	}

	if r, err := client.StopListener(ctx, &sockplanev1.StopListenerRequest{Id: "g1"}); err != nil || r.GetListener().GetStatus().GetState() != sockplanev1.State_STATE_STOPPED {
		t.Fatalf("stop: %v %v", r, err)
	}
	if r, err := client.StartListener(ctx, &sockplanev1.StartListenerRequest{Id: "g1"}); err != nil || r.GetListener().GetStatus().GetState() != sockplanev1.State_STATE_RUNNING {
		t.Fatalf("start: %v %v", r, err)
	}
	if r, err := client.ListListeners(ctx, &sockplanev1.ListListenersRequest{}); err != nil || len(r.GetListeners()) != 1 {
		t.Fatalf("list: %v %v", r, err)
	}
	if _, err := client.DeleteListener(ctx, &sockplanev1.DeleteListenerRequest{Id: "g1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetListener(ctx, &sockplanev1.GetListenerRequest{Id: "g1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestCommandRunners(t *testing.T) {
	got := commandRunners([]string{"ls", "/bin/sh", "echo", "env", "date", "/usr/bin/find"})
	if want := []string{"/bin/sh", "env", "/usr/bin/find"}; !slices.Equal(got, want) {
		t.Fatalf("commandRunners = %v, want %v", got, want)
	}
}

// TestAPIListenersArePlainTCP: the daemon's gRPC and HTTP ports are
// bound as TCP, not Multipath TCP (which Go asks for by default), as the
// engine's listeners are.
func TestAPIListenersArePlainTCP(t *testing.T) {
	d := startDaemon(t)
	for name, ln := range map[string]net.Listener{"grpc": d.grpcLn, "http": d.httpLn} {
		rc, err := ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var proto int
		var perr error
		if err := rc.Control(func(fd uintptr) {
			proto, perr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		}); err != nil {
			t.Fatal(err)
		}
		if perr != nil || proto != syscall.IPPROTO_TCP {
			t.Errorf("%s: SO_PROTOCOL = %d (%v), want IPPROTO_TCP (%d)", name, proto, perr, syscall.IPPROTO_TCP)
		}
	}
}
