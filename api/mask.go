package api

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// updatable are the top-level fields of a Listener an update may name;
// the message ones also by their subfields (limits.max_connections).
var updatable = map[protoreflect.Name]bool{
	"transport": true, "address": true, "handler": true, "framing": true, "unix_mode": true,
	"exec": true, "capture": true, "limits": true, "labels": true, "ttl": true, "expire_time": true,
	"script": true, "faults": true, "fault_seed": true, "tls": true, "node": true, "proxy": true,
}

// identifying fields of the body name and guard the update, not change
// it: a mask inferred from the body carries them, and they are dropped.
var identifying = map[protoreflect.Name]bool{"id": true, "etag": true}

var listenerDesc = (&sockplanev1.Listener{}).ProtoReflect().Descriptor()

// maskPath is one checked path: the fields it walks, from Listener down.
type maskPath []protoreflect.FieldDescriptor

// maskPaths checks an update mask, in proto names (gRPC) or JSON names
// (REST's ?updateMask= and the mask the gateway infers from the body both
// may give either), and resolves each path to its fields.
func maskPaths(mask *fieldmaskpb.FieldMask) ([]maskPath, error) {
	var paths []maskPath
	for _, raw := range mask.GetPaths() {
		for _, p := range strings.Split(raw, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			path, err := resolvePath(p)
			if err != nil {
				return nil, invalidArgument("updateMask", err.Error())
			}
			if path != nil {
				paths = append(paths, path)
			}
		}
	}
	if len(paths) == 0 {
		return nil, invalidArgument("updateMask", "empty: name the fields to change, e.g. ?updateMask=handler,limits, or give them in the body")
	}
	return paths, nil
}

func resolvePath(p string) (maskPath, error) {
	desc := listenerDesc
	var path maskPath
	for i, seg := range strings.Split(p, ".") {
		if desc == nil {
			return nil, fmt.Errorf("%q: %s has no subfields", p, path[len(path)-1].Name())
		}
		f := desc.Fields().ByName(protoreflect.Name(seg))
		if f == nil {
			f = desc.Fields().ByJSONName(seg)
		}
		if f == nil {
			return nil, fmt.Errorf("%q: no field %q", p, seg)
		}
		if i == 0 {
			switch {
			case identifying[f.Name()]:
				return nil, nil
			case f.Name() == "status":
				return nil, fmt.Errorf("%q: status is output only", p)
			case !updatable[f.Name()]:
				return nil, fmt.Errorf("%q cannot be updated", p)
			}
		}
		path = append(path, f)
		desc = nil
		if f.Kind() == protoreflect.MessageKind && !f.IsMap() && !f.IsList() && i == 0 {
			desc = f.Message() // one level of subfields: limits.max_connections
		}
	}
	return path, nil
}

// applyMask copies each path's field from src onto dst; a field the mask
// names that src does not set is cleared in dst, back to its default.
func applyMask(dst, src *sockplanev1.Listener, paths []maskPath) {
	for _, path := range paths {
		d, s := dst.ProtoReflect(), src.ProtoReflect()
		for _, f := range path[:len(path)-1] {
			d = d.Mutable(f).Message()
			if s.Has(f) {
				s = s.Get(f).Message()
			} else {
				s = (&sockplanev1.Listener{}).ProtoReflect().Get(f).Message() // an empty one
			}
		}
		last := path[len(path)-1]
		if s.Has(last) {
			d.Set(last, cloneValue(s.Get(last), last))
		} else {
			d.Clear(last)
		}
	}
}

// cloneValue copies a message value, so dst never aliases src.
func cloneValue(v protoreflect.Value, f protoreflect.FieldDescriptor) protoreflect.Value {
	if f.Kind() == protoreflect.MessageKind && !f.IsMap() && !f.IsList() {
		return protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect())
	}
	return v
}
