package specpb

import (
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/registry"
)

// SchemaVersion is the version of the storage format EncodeRecord writes
// (see sockplanev1.ListenerRecord).
const SchemaVersion = 1

// ErrNewerSchema marks a record written by a sockplane newer than this
// one: it is kept as it is.
var ErrNewerSchema = errors.New("written by a newer sockplane")

var (
	recordMarshal   = protojson.MarshalOptions{}
	recordUnmarshal = protojson.UnmarshalOptions{} // unknown fields are an error: nothing is dropped unseen
)

// EncodeRecord writes rec in the current storage format.
func EncodeRecord(rec registry.Record) ([]byte, error) {
	msg := &sockplanev1.ListenerRecord{
		SchemaVersion:    SchemaVersion,
		Listener:         SpecToProto(rec.Spec),
		Running:          rec.Running,
		LastBoundAddress: rec.LastBound,
		Generation:       rec.Generation,
		RequestId:        rec.RequestID,
	}
	if t := rec.Spec.TLS; t != nil && len(t.SelfSignedCertPEM) > 0 {
		msg.SelfSignedTls = &sockplanev1.SelfSignedTls{CertificatePem: string(t.SelfSignedCertPEM), KeyPem: string(t.SelfSignedKeyPEM)}
	}
	if !rec.CreateTime.IsZero() {
		msg.CreateTime = timestamppb.New(rec.CreateTime)
	}
	b, err := recordMarshal.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode listener %s: %w", rec.Spec.ID, err)
	}
	return b, nil
}

// DecodeRecord reads the record stored under id, in any format this
// sockplane knows: the current one, or version 0. A record it cannot
// read comes back with only its id and Unreadable saying why. current
// reports whether the value is already in the current format, so a store
// can rewrite the others.
func DecodeRecord(id string, value []byte) (rec registry.Record, current bool) {
	rec, current, err := decode(value)
	if err == nil && rec.Spec.ID != id {
		err = fmt.Errorf("the record names listener %q", rec.Spec.ID)
	}
	if err != nil {
		return registry.Record{Spec: registry.Spec{ID: id}, Unreadable: err}, false
	}
	return rec, current
}

func decode(value []byte) (rec registry.Record, current bool, err error) {
	var probe struct {
		SchemaVersion *uint32         `json:"schemaVersion"`
		Spec          json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(value, &probe); err != nil {
		return rec, false, fmt.Errorf("not a JSON object: %w", err)
	}
	switch {
	case probe.SchemaVersion == nil && probe.Spec != nil:
		rec, err = decodeV0(value)
		return rec, false, err
	case probe.SchemaVersion == nil:
		return rec, false, errors.New("no schemaVersion")
	case *probe.SchemaVersion > SchemaVersion:
		return rec, false, fmt.Errorf("schema version %d, %w (this one reads up to %d)", *probe.SchemaVersion, ErrNewerSchema, SchemaVersion)
	}
	var msg sockplanev1.ListenerRecord
	if err := recordUnmarshal.Unmarshal(value, &msg); err != nil {
		return rec, false, fmt.Errorf("schema version %d: %w", *probe.SchemaVersion, err)
	}
	spec, err := SpecFromProto(msg.GetListener())
	if err != nil {
		return rec, false, fmt.Errorf("schema version %d: %w", *probe.SchemaVersion, err)
	}
	if m := msg.GetSelfSignedTls(); m != nil && spec.TLS != nil {
		spec.TLS.SelfSignedCertPEM, spec.TLS.SelfSignedKeyPEM = []byte(m.GetCertificatePem()), []byte(m.GetKeyPem())
	}
	rec = registry.Record{Spec: spec, Running: msg.GetRunning(), LastBound: msg.GetLastBoundAddress(),
		Generation: msg.GetGeneration(), RequestID: msg.GetRequestId()}
	if t := msg.GetCreateTime(); t != nil {
		rec.CreateTime = t.AsTime()
	}
	return rec, true, nil
}
