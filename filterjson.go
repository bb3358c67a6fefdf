package lro

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/lrostore"
)

// emptyJSON is the JSON copy of an empty message.
var emptyJSON = []byte("{}")

// messageJSON returns b, a message of type mt packed in a
// google.protobuf.Any (as operations store metadata and responses), in
// protojson with proto field names: the JSON copy that filters on
// metadata.<path> and response.<path> read. It is nil, and costs nothing,
// when b is nil; nil too when b does not decode as mt, which leaves the
// operation out of such filters rather than failing the write.
func messageJSON(mt protoreflect.MessageType, b []byte) []byte {
	if b == nil || mt == nil {
		return nil
	}
	var a anypb.Any
	if err := proto.Unmarshal(b, &a); err != nil {
		return nil
	}
	if len(a.Value) == 0 {
		return emptyJSON
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(a.Value, m); err != nil {
		return nil
	}
	return protoJSON(m)
}

// responseJSON is the JSON copy of a handler's response.
func responseJSON(resp proto.Message) []byte {
	if proto.Size(resp) == 0 {
		return emptyJSON
	}
	return protoJSON(resp)
}

// protoJSON is messageJSON for a message at hand.
func protoJSON(m proto.Message) []byte {
	j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil
	}
	return j
}

// metadataJSON is the JSON copy of j's metadata (j.mu held), or nil when
// the executor makes none.
func (e *handlerExecutor) metadataJSON(j *job) []byte {
	if !e.jsonCopies {
		return nil
	}
	return messageJSON(j.kind.metadataType(), j.meta)
}

// metadataType is k's metadata type; nil for a nil k (a job of tests
// that leave the kind out).
func (k *kind) metadataType() protoreflect.MessageType {
	if k == nil {
		return nil
	}
	return k.metadata
}

// filterKinds describes the registered kinds' messages to filters.
func (c *Client) filterKinds() []lrostore.FilterKind {
	c.kinds.mu.RLock()
	defer c.kinds.mu.RUnlock()
	kinds := make([]lrostore.FilterKind, 0, len(c.kinds.kinds))
	for _, k := range c.kinds.kinds {
		fk := lrostore.FilterKind{Name: k.name}
		if !k.metadataNone && k.metadata != nil {
			fk.Metadata = k.metadata.Descriptor()
		}
		if k.response != nil {
			fk.Response = k.response.Descriptor()
		}
		kinds = append(kinds, fk)
	}
	return kinds
}
