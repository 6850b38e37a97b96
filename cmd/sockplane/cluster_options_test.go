package main

import (
	"net"
	"strings"
	"testing"
)

// TestAdvertisedGRPC: the other nodes are told --advertise-grpc, else
// the bound gRPC address; a wildcard bind without --advertise-grpc is
// refused, naming the flag.
func TestAdvertisedGRPC(t *testing.T) {
	for _, c := range []struct {
		advertise, bound, want, wantErr string
	}{
		{bound: "127.0.0.1:7070", want: "127.0.0.1:7070"},
		{bound: "[::1]:7070", want: "[::1]:7070"},
		{advertise: "10.0.0.5:7070", bound: "0.0.0.0:7070", want: "10.0.0.5:7070"},
		{bound: "0.0.0.0:7070", wantErr: "--advertise-grpc is required"},
		{bound: "[::]:7070", wantErr: "--advertise-grpc is required"},
		{advertise: "no-port", bound: "127.0.0.1:7070", wantErr: "--advertise-grpc \"no-port\""},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.bound)
		if err != nil {
			t.Fatal(err)
		}
		got, err := clusterOptions{advertiseGRPC: c.advertise}.advertised(addr)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("advertise %q bound %s: %q, %v; want an error with %q", c.advertise, c.bound, got, err, c.wantErr)
		case c.wantErr == "" && (err != nil || got != c.want):
			t.Errorf("advertise %q bound %s: %q, %v; want %s", c.advertise, c.bound, got, err, c.want)
		}
	}
}

// TestEtcdTLSFlags: a client certificate without its key (or the other
// way round) is refused; a CA that is not a file names the problem.
func TestEtcdTLSFlags(t *testing.T) {
	if _, err := (clusterOptions{etcdEndpoints: []string{"https://127.0.0.1:2379"}, etcdCert: "c.pem"}).etcdConfig(); err == nil || !strings.Contains(err.Error(), "--etcd-cert and --etcd-key") {
		t.Errorf("cert without key: %v", err)
	}
	if _, err := (clusterOptions{etcdEndpoints: []string{"https://127.0.0.1:2379"}, etcdCA: "/nonexistent/ca.pem"}).etcdConfig(); err == nil || !strings.Contains(err.Error(), "etcd TLS") {
		t.Errorf("missing CA file: %v", err)
	}
	cfg, err := (clusterOptions{etcdEndpoints: []string{"http://127.0.0.1:2379"}}).etcdConfig()
	if err != nil || cfg.TLS != nil {
		t.Errorf("plaintext: %+v, %v", cfg.TLS, err)
	}
}
