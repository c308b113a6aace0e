package rpcsse

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssebridge/ssebridge/sse"
)

// The event types of ssebridge's own events on a method's stream.
const (
	// ErrorEvent is the type of the event that carries a backend's status
	// before the stream ends: its data is the google.rpc.Status as JSON.
	ErrorEvent = "error"
	// EndEvent is the type of the event sent when the backend ended the
	// stream normally (a finite stream): its data is "{}". A page calls
	// close() on it, or its EventSource reconnects.
	EndEvent = "end"
)

// endFrame is the frame of EndEvent.
var endFrame = mustFrame(sse.Event{Type: EndEvent, Data: "{}", Notice: true})

func mustFrame(e sse.Event) *sse.Frame {
	f, err := sse.NewFrame(e)
	if err != nil {
		panic(err)
	}
	return f
}

// framer turns a method's messages into events.
type framer struct {
	// id is the path to the id field; nil for no id.
	id []protoreflect.FieldDescriptor
	// eventField is the path to the event type's field; nil for none.
	eventField []protoreflect.FieldDescriptor
	// eventOneof is the oneof whose set case names the type; nil for none.
	eventOneof protoreflect.OneofDescriptor
	// eventName is the fixed type, or "".
	eventName string
}

// newFramer returns the framer of messages of md by opts.
func newFramer(md protoreflect.MessageDescriptor, opts *MethodOptions) (framer, error) {
	var f framer
	set := 0
	for _, v := range []string{opts.EventField, opts.EventOneof, opts.EventName} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return f, errors.New("more than one of event_field, event_oneof and event_name")
	}
	var err error
	if opts.IDField != "" {
		if f.id, err = scalarPath(md, opts.IDField, "id_field"); err != nil {
			return f, err
		}
	}
	switch {
	case opts.EventField != "":
		if f.eventField, err = scalarPath(md, opts.EventField, "event_field"); err != nil {
			return f, err
		}
		if k := f.eventField[len(f.eventField)-1].Kind(); k != protoreflect.StringKind && k != protoreflect.EnumKind {
			return f, fmt.Errorf("event_field %q is a %v, not a string or enum", opts.EventField, k)
		}
	case opts.EventOneof != "":
		f.eventOneof = md.Oneofs().ByName(protoreflect.Name(opts.EventOneof))
		if f.eventOneof == nil {
			return f, fmt.Errorf("event_oneof %q: %s has no oneof %q", opts.EventOneof, md.FullName(), opts.EventOneof)
		}
	case opts.EventName != "":
		if _, err := sse.AppendEvent(nil, "", opts.EventName, "x"); err != nil {
			return f, fmt.Errorf("event_name %q: %w", opts.EventName, err)
		}
		f.eventName = opts.EventName
	}
	return f, nil
}

// eventType returns the type of msg's event; "" for the default.
func (f *framer) eventType(msg protoreflect.Message) string {
	switch {
	case f.eventField != nil:
		return scalarText(msg, f.eventField)
	case f.eventOneof != nil:
		if fd := msg.WhichOneof(f.eventOneof); fd != nil {
			return string(fd.Name())
		}
	}
	return f.eventName
}

// frame encodes msg as an event, its data msg in JSON by mo, accepted
// (received from the backend) at accepted.
func (f *framer) frame(msg proto.Message, mo protojson.MarshalOptions, accepted time.Time) (*sse.Frame, error) {
	data, err := mo.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("rpcsse: message to JSON: %w", err)
	}
	m := msg.ProtoReflect()
	e := sse.Event{Type: f.eventType(m), Data: string(data), Accepted: accepted}
	if f.id != nil {
		e.ID = scalarText(m, f.id)
	}
	return sse.NewFrame(e)
}

// scalarText returns the text of the scalar field at the end of path in
// msg: "" when a message along the path is not set; an enum's value name
// (its number when the value is unknown).
func scalarText(msg protoreflect.Message, path []protoreflect.FieldDescriptor) string {
	for _, fd := range path[:len(path)-1] {
		if !msg.Has(fd) {
			return ""
		}
		msg = msg.Get(fd).Message()
	}
	fd := path[len(path)-1]
	v := msg.Get(fd)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10)
	default:
		return strconv.FormatInt(v.Int(), 10)
	}
}
