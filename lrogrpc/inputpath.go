package lrogrpc

import (
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
)

// badInputJSON is the INVALID_ARGUMENT of JSON input that does not parse as
// the kind's request (protojson's err), with the path of the field at fault
// (input.box.widht) as its field violation when it can be told: protojson's
// own errors name a field but not where it is, and a client needs both,
// for dynamic types from a descriptor set as for generated ones. It is on
// the error path only.
func badInputJSON(kind string, input proto.Message, v *structpb.Value, err error) error {
	md := input.ProtoReflect().Descriptor()
	e := &lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_INPUT", Field: "input", Err: lro.ErrInvalidArgument,
		Message: fmt.Sprintf("input does not parse as a %s (kind %q): %v", md.FullName(), kind, err)}
	if path, ok := messagePath(md, v, "input"); ok && path != "input" {
		e.Field = path
		e.Message = fmt.Sprintf("input does not parse as a %s (kind %q) at %s: %v", md.FullName(), kind, path, err)
	}
	return e
}

// messagePath returns the path of the first value in v, a message's JSON,
// that cannot be the field it names: an unknown field, or a value of the
// wrong JSON type. It reports false when it finds none.
func messagePath(md protoreflect.MessageDescriptor, v *structpb.Value, path string) (string, bool) {
	if md.ParentFile().Package() == "google.protobuf" {
		return "", false // well-known types have JSON forms of their own
	}
	if _, ok := v.GetKind().(*structpb.Value_NullValue); ok {
		return "", false
	}
	obj := v.GetStructValue()
	if obj == nil {
		return path, true
	}
	keys := make([]string, 0, len(obj.GetFields()))
	for k := range obj.GetFields() {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same path for the same input
	for _, key := range keys {
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			if len(key) > 1 && key[0] == '[' {
				continue // an extension: protojson's own message says enough
			}
			return path + "." + key, true
		}
		if p, ok := fieldPath(fd, obj.GetFields()[key], path+"."+key); ok {
			return p, true
		}
	}
	return "", false
}

func fieldPath(fd protoreflect.FieldDescriptor, v *structpb.Value, path string) (string, bool) {
	if _, ok := v.GetKind().(*structpb.Value_NullValue); ok {
		return "", false
	}
	switch {
	case fd.IsMap():
		obj := v.GetStructValue()
		if obj == nil {
			return path, true
		}
		keys := make([]string, 0, len(obj.GetFields()))
		for k := range obj.GetFields() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, ok := valuePath(fd.MapValue(), obj.GetFields()[k], path+"."+k); ok {
				return p, true
			}
		}
		return "", false
	case fd.IsList():
		list := v.GetListValue()
		if list == nil {
			return path, true
		}
		for i, e := range list.GetValues() {
			if p, ok := valuePath(fd, e, path+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
		return "", false
	}
	return valuePath(fd, v, path)
}

// valuePath checks one value of a field (an element of a list or map).
func valuePath(fd protoreflect.FieldDescriptor, v *structpb.Value, path string) (string, bool) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messagePath(fd.Message(), v, path)
	case protoreflect.EnumKind:
		switch x := v.GetKind().(type) {
		case *structpb.Value_NumberValue:
			return "", false
		case *structpb.Value_StringValue:
			if fd.Enum().Values().ByName(protoreflect.Name(x.StringValue)) == nil {
				return path, true
			}
			return "", false
		case *structpb.Value_NullValue:
			return "", false
		}
		return path, true
	case protoreflect.BoolKind:
		_, ok := v.GetKind().(*structpb.Value_BoolValue)
		return path, !ok
	case protoreflect.StringKind, protoreflect.BytesKind:
		_, ok := v.GetKind().(*structpb.Value_StringValue)
		return path, !ok
	default: // numbers: a JSON number, or a string that holds one
		switch x := v.GetKind().(type) {
		case *structpb.Value_NumberValue:
			return "", false
		case *structpb.Value_StringValue:
			if _, err := strconv.ParseFloat(x.StringValue, 64); err != nil {
				return path, true
			}
			return "", false
		}
		return path, true
	}
}
