package script

import (
	"context"
	"testing"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
)

func BenchmarkServeFramePrefix(b *testing.B) {
	h, err := New(Spec{Rules: []Rule{
		{Match: match.Spec{BodyPrefix: "GET "}, Reply: Reply{Body: ptr("OK")}},
	}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := append([]byte("GET "), make([]byte, 60)...)
	r := rawsock.NewRequest(context.Background(), nil, body)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeFrame(nopWriter{}, r)
	}
}

// BenchmarkServeFrameIssue runs the issue's script, where a frame that
// only the default answers is tried against every rule, header one
// included.
func BenchmarkServeFrameIssue(b *testing.B) {
	h, err := New(issueSpec(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rawsock.NewRequest(context.Background(), []byte(`{"data_size": 64, "cmd": "put"}`), make([]byte, 64))
	b.ReportAllocs()
	for b.Loop() {
		h.ServeFrame(nopWriter{}, r)
	}
}
