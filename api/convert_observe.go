package api

import (
	"fmt"
	"sort"
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// eventTypes maps rawsock's event types to the API's.
var eventTypes = map[rawsock.EventType]sockplanev1.EventType{
	rawsock.EventListenerCreated:  sockplanev1.EventType_EVENT_TYPE_LISTENER_CREATED,
	rawsock.EventListenerStarted:  sockplanev1.EventType_EVENT_TYPE_LISTENER_STARTED,
	rawsock.EventListenerStopped:  sockplanev1.EventType_EVENT_TYPE_LISTENER_STOPPED,
	rawsock.EventListenerFailed:   sockplanev1.EventType_EVENT_TYPE_LISTENER_FAILED,
	rawsock.EventListenerDeleted:  sockplanev1.EventType_EVENT_TYPE_LISTENER_DELETED,
	rawsock.EventConnectionOpened: sockplanev1.EventType_EVENT_TYPE_CONNECTION_OPENED,
	rawsock.EventConnectionClosed: sockplanev1.EventType_EVENT_TYPE_CONNECTION_CLOSED,
	rawsock.EventFrameError:       sockplanev1.EventType_EVENT_TYPE_FRAME_ERROR,
	rawsock.EventEventsDropped:    sockplanev1.EventType_EVENT_TYPE_EVENTS_DROPPED,
	rawsock.EventListenerExpired:  sockplanev1.EventType_EVENT_TYPE_LISTENER_EXPIRED,
	rawsock.EventListenerUpdated:  sockplanev1.EventType_EVENT_TYPE_LISTENER_UPDATED,
	rawsock.EventUpstreamError:    sockplanev1.EventType_EVENT_TYPE_UPSTREAM_ERROR,
}

// parseConnID reads a connection id of the API; "" is allowed where the
// field is optional.
func parseConnID(s string, optional bool) (uint64, error) {
	if s == "" && optional {
		return 0, nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, &rawsock.FieldError{Field: "connectionId", Reason: fmt.Sprintf("%q is not a connection id (a positive integer, as ListConnections shows)", s)}
	}
	return id, nil
}

func formatConnID(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 10)
}

func connectionToProto(c rawsock.ConnInfo) *sockplanev1.Connection {
	return &sockplanev1.Connection{
		Id:             formatConnID(c.ID),
		PeerAddress:    c.Peer,
		LocalAddress:   c.Local,
		OpenedAt:       timestamppb.New(c.OpenedAt),
		LastActivityAt: timestamppb.New(c.LastActivity),
		FramesIn:       c.FramesIn,
		FramesOut:      c.FramesOut,
		BytesIn:        c.BytesIn,
		BytesOut:       c.BytesOut,
		TlsPeerSubject: c.TLSPeerSubject,
	}
}

func frameToProto(f rawsock.CapturedFrame) *sockplanev1.CapturedFrame {
	dir := sockplanev1.Direction_DIRECTION_IN
	if f.Out {
		dir = sockplanev1.Direction_DIRECTION_OUT
	}
	return &sockplanev1.CapturedFrame{
		ConnectionId: formatConnID(f.ConnID),
		Direction:    dir,
		At:           timestamppb.New(f.At),
		Header:       string(f.Header),
		Body:         f.Body,
		Truncated:    f.Truncated,
		BodySize:     uint64(f.BodySize),
	}
}

func eventToProto(e rawsock.Event) *sockplanev1.Event {
	return &sockplanev1.Event{
		Type:         eventTypes[e.Type],
		At:           timestamppb.New(e.At),
		ListenerId:   e.ListenerID,
		ConnectionId: formatConnID(e.ConnID),
		PeerAddress:  e.Peer,
		Message:      e.Message,
		Dropped:      e.Dropped,
	}
}

// headerFields turns SendFrame's extra header into fields, in key order
// so that the same request always writes the same bytes. data_size is the
// codec's: a caller may not set it.
func headerFields(h *structpb.Struct) ([]wire.HeaderField, error) {
	m := h.AsMap()
	if _, ok := m["data_size"]; ok {
		return nil, &rawsock.FieldError{Field: "header.data_size", Reason: "is set from the body; leave it out"}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([]wire.HeaderField, len(keys))
	for i, k := range keys {
		fields[i] = wire.HeaderField{Name: k, Value: m[k]}
	}
	return fields, nil
}
