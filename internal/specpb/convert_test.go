package specpb

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
)

// TestEveryEnumValueIsMapped fails when the proto gains a value that the
// conversion tables do not know, before a user can hit it.
func TestEveryEnumValueIsMapped(t *testing.T) {
	check := func(name string, desc protoreflect.EnumDescriptor, has func(protoreflect.EnumNumber) bool) {
		values := desc.Values()
		for i := range values.Len() {
			if v := values.Get(i); !has(v.Number()) {
				t.Errorf("%s: %s has no mapping", name, v.Name())
			}
		}
	}
	check("transports", sockplanev1.Transport(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := Transports[sockplanev1.Transport(n)]
		return ok
	})
	check("handlers", sockplanev1.Handler(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := Handlers[sockplanev1.Handler(n)]
		return ok
	})
	check("framings", sockplanev1.Framing(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := Framings[sockplanev1.Framing(n)]
		return ok
	})
	check("byteOrders", sockplanev1.ByteOrder(0).Descriptor(), func(n protoreflect.EnumNumber) bool {
		_, ok := ByteOrders[sockplanev1.ByteOrder(n)]
		return ok
	})
}

func TestSpecFromProtoRejectsUnknownEnumValues(t *testing.T) {
	for field, l := range map[string]*sockplanev1.Listener{
		"transport":         {Transport: 99},
		"handler":           {Handler: 99},
		"framing.request":   {Framing: &sockplanev1.FramingConfig{Request: 99}},
		"framing.response":  {Framing: &sockplanev1.FramingConfig{Response: 99}},
		"framing.byteOrder": {Framing: &sockplanev1.FramingConfig{ByteOrder: 99}},
	} {
		var fe *rawsock.FieldError
		if _, err := SpecFromProto(l); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on it", field, err)
		}
	}
}
