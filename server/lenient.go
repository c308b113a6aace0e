package server

import (
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// gRPC answers a request that its codec cannot decode with INTERNAL, before
// any handler or interceptor sees it. A proto3 string that is not valid
// UTF-8 makes proto.Unmarshal fail, yet it is the client's fault, like any
// other bad value: the codec therefore decodes such a request again with
// unmarshalLenient, which keeps the bytes, and the service's validation
// refuses them with INVALID_ARGUMENT naming the field.

// Errors of the lenient decoding, which the codec replaces by
// proto.Unmarshal's own.
var (
	errTooDeep = errors.New("server: message nested too deeply")
	// errAllValid: the message decoded leniently holds no string that is
	// not valid UTF-8 (a later value replaced it, say), so it was refused
	// for another reason.
	errAllValid = errors.New("server: no string of the message is invalid")
)

// unmarshalLenient decodes b into m with decodeAll, and succeeds only when
// m then holds a string that is not valid UTF-8, which the service will
// refuse. It is the slow path: call it only after proto.Unmarshal failed.
func unmarshalLenient(b []byte, m proto.Message) error {
	if err := decodeAll(b, m); err != nil {
		return err
	}
	if !hasInvalidUTF8(m.ProtoReflect()) {
		return errAllValid
	}
	return nil
}

// decodeAll decodes b into m as proto.Unmarshal does, except that a string
// field whose bytes are not valid UTF-8 keeps them as they are
// (protoreflect's Set does not check them), in messages at any depth,
// repeated or not. Every other fault is an error, as in proto.Unmarshal:
// malformed wire data, a map or extension holding invalid UTF-8, missing
// required fields. It resets m first.
func decodeAll(b []byte, m proto.Message) error {
	proto.Reset(m)
	if err := decodeLenient(b, m.ProtoReflect(), protowire.DefaultRecursionLimit); err != nil {
		return err
	}
	return proto.CheckInitialized(m)
}

// decodeLenient merges the fields of b into m, one record at a time.
// String and message fields carried as length-delimited records are
// decoded here; proto decodes every other record, merged into m, so that
// scalars, packed lists, maps, groups, extensions and unknown fields
// follow its rules exactly. depth is how many more levels of nesting are
// allowed.
func decodeLenient(b []byte, m protoreflect.Message, depth int) error {
	if depth <= 0 {
		return errTooDeep
	}
	fields := m.Descriptor().Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeField(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		record := b[:n]
		b = b[n:]
		fd := fields.ByNumber(num)
		if fd == nil || typ != protowire.BytesType || fd.IsMap() ||
			(fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.MessageKind) {
			opts := proto.UnmarshalOptions{Merge: true, AllowPartial: true, RecursionLimit: depth}
			if err := opts.Unmarshal(record, m.Interface()); err != nil {
				return err
			}
			continue
		}
		_, _, tagLen := protowire.ConsumeTag(record)
		value, _ := protowire.ConsumeBytes(record[tagLen:]) // ConsumeField checked it
		if fd.Kind() == protoreflect.StringKind {
			s := protoreflect.ValueOfString(string(value))
			if fd.IsList() {
				m.Mutable(fd).List().Append(s)
			} else {
				m.Set(fd, s)
			}
			continue
		}
		var sub protoreflect.Message
		if fd.IsList() {
			sub = m.Mutable(fd).List().AppendMutable().Message()
		} else {
			sub = m.Mutable(fd).Message() // merges repeated occurrences, as proto does
		}
		if err := decodeLenient(value, sub, depth-1); err != nil {
			return err
		}
	}
	return nil
}

// hasInvalidUTF8 reports whether a string field of m, at any depth (maps
// aside, which decodeLenient does not decode leniently), is not valid
// UTF-8.
func hasInvalidUTF8(m protoreflect.Message) bool {
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsMap() || (fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.MessageKind) {
			return true
		}
		if !fd.IsList() {
			found = invalidValue(fd, v)
			return !found
		}
		for i, list := 0, v.List(); i < list.Len() && !found; i++ {
			found = invalidValue(fd, list.Get(i))
		}
		return !found
	})
	return found
}

func invalidValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	if fd.Kind() == protoreflect.StringKind {
		return !utf8.ValidString(v.String())
	}
	return hasInvalidUTF8(v.Message())
}
