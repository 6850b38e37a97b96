package specpb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

// v0Record is storage format version 0, before schema versions: the JSON
// of the Go types of sockplane's first release (rawsock.Record and
// rawsock.Spec as of commit 6860273). The types are frozen here, so that
// changing today's types never changes how old data reads.
type v0Record struct {
	Spec      v0Spec `json:"spec"`
	Running   bool   `json:"running"`
	LastBound string `json:"lastBound,omitempty"`
}

type v0Spec struct {
	ID        string `json:"id"`
	Transport string `json:"transport"`
	Address   string `json:"address"`
	UnixMode  uint32 `json:"unixMode,omitempty"`
	Handler   string `json:"handler"`
	Framing   struct {
		Request   string `json:"request"`
		Response  string `json:"response"`
		ByteOrder string `json:"byteOrder"`
	} `json:"framing"`
	Exec struct {
		Allow          []string `json:"allow,omitempty"`
		Timeout        int64    `json:"timeout,omitempty"` // nanoseconds
		MaxOutputBytes int      `json:"maxOutputBytes,omitempty"`
		MaxConcurrent  int      `json:"maxConcurrent,omitempty"`
		WorkingDir     string   `json:"workingDir,omitempty"`
	} `json:"exec"`
	Capture struct {
		MaxFrames        int `json:"maxFrames"`
		MaxBytesPerFrame int `json:"maxBytesPerFrame"`
	} `json:"capture"`
	Limits struct {
		MaxConnections             int   `json:"maxConnections"`
		MaxHeaderBytes             int   `json:"maxHeaderBytes"`
		MaxBodyBytes               int   `json:"maxBodyBytes"`
		HeaderTimeout              int64 `json:"headerTimeout"` // nanoseconds
		IdleTimeout                int64 `json:"idleTimeout"`   // nanoseconds; -1: none
		AllowLargerDatagramReplies bool  `json:"allowLargerDatagramReplies,omitempty"`
	} `json:"limits"`
}

// decodeV0 reads a version-0 record; a field it does not know means the
// value is not one.
func decodeV0(value []byte) (registry.Record, error) {
	var v0 v0Record
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v0); err != nil {
		return registry.Record{}, fmt.Errorf("schema version 0: %w", err)
	}
	s := v0.Spec
	spec := registry.Spec{
		ID:        s.ID,
		Transport: registry.Transport(s.Transport),
		Address:   s.Address,
		UnixMode:  fs.FileMode(s.UnixMode),
		Handler:   registry.HandlerKind(s.Handler),
		Exec: registry.ExecSpec{
			Allow:          s.Exec.Allow,
			Timeout:        time.Duration(s.Exec.Timeout),
			MaxOutputBytes: s.Exec.MaxOutputBytes,
			MaxConcurrent:  s.Exec.MaxConcurrent,
			WorkingDir:     s.Exec.WorkingDir,
		},
		Capture: registry.CaptureSpec{MaxFrames: s.Capture.MaxFrames, MaxBytesPerFrame: s.Capture.MaxBytesPerFrame},
		Limits: registry.LimitsSpec{
			MaxConnections:             s.Limits.MaxConnections,
			MaxHeaderBytes:             s.Limits.MaxHeaderBytes,
			MaxBodyBytes:               s.Limits.MaxBodyBytes,
			HeaderTimeout:              time.Duration(s.Limits.HeaderTimeout),
			IdleTimeout:                time.Duration(s.Limits.IdleTimeout),
			AllowLargerDatagramReplies: s.Limits.AllowLargerDatagramReplies,
		},
	}
	for _, f := range []struct {
		text string
		into *wire.Framing
	}{{s.Framing.Request, &spec.Framing.Request}, {s.Framing.Response, &spec.Framing.Response}} {
		if f.text == "" {
			continue
		}
		if err := f.into.UnmarshalText([]byte(f.text)); err != nil {
			return registry.Record{}, fmt.Errorf("schema version 0: %w", err)
		}
	}
	if s.Framing.ByteOrder != "" {
		if err := spec.Framing.ByteOrder.UnmarshalText([]byte(s.Framing.ByteOrder)); err != nil {
			return registry.Record{}, fmt.Errorf("schema version 0: %w", err)
		}
	}
	return registry.Record{Spec: spec, Running: v0.Running, LastBound: v0.LastBound}, nil
}
