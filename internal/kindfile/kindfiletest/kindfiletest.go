// Package kindfiletest builds a small descriptor set in Go, so that tests of
// kinds files need no protoc.
package kindfiletest

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Package is the protobuf package of FileSet's messages.
const Package = "kindfiletest.v1"

// FileSet is a descriptor set of one file, kindfiletest/v1/resize.proto,
// that imports google/protobuf/timestamp.proto (part of the set, as protoc
// --include_imports puts it):
//
//	message ResizeRequest {
//	  string source = 1;
//	  int32 size = 2;
//	  Box box = 3;
//	  repeated Box boxes = 4;
//	  google.protobuf.Timestamp deadline = 5;
//	  Mode mode = 6;
//	  message Box { int32 width = 1; int32 height = 2; }
//	  enum Mode { MODE_UNSPECIFIED = 0; MODE_FAST = 1; }
//	}
//	message ResizeProgress { int32 percent = 1; }
//	message ResizeResult { string url = 1; }
func FileSet() *descriptorpb.FileDescriptorSet {
	field := func(name string, number int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string, repeated bool) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name:     proto.String(name),
			Number:   proto.Int32(number),
			Type:     typ.Enum(),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			JsonName: proto.String(jsonName(name)),
		}
		if repeated {
			f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	const (
		tString  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		tInt32   = descriptorpb.FieldDescriptorProto_TYPE_INT32
		tMessage = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		tEnum    = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	)
	timestamp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("google/protobuf/timestamp.proto"),
		Package: proto.String("google.protobuf"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Timestamp"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("seconds", 1, descriptorpb.FieldDescriptorProto_TYPE_INT64, "", false),
				field("nanos", 2, tInt32, "", false),
			},
		}},
	}
	resize := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("kindfiletest/v1/resize.proto"),
		Package:    proto.String(Package),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("ResizeRequest"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("source", 1, tString, "", false),
					field("size", 2, tInt32, "", false),
					field("box", 3, tMessage, "."+Package+".ResizeRequest.Box", false),
					field("boxes", 4, tMessage, "."+Package+".ResizeRequest.Box", true),
					field("deadline", 5, tMessage, ".google.protobuf.Timestamp", false),
					field("mode", 6, tEnum, "."+Package+".ResizeRequest.Mode", false),
				},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name: proto.String("Box"),
					Field: []*descriptorpb.FieldDescriptorProto{
						field("width", 1, tInt32, "", false),
						field("height", 2, tInt32, "", false),
					},
				}},
				EnumType: []*descriptorpb.EnumDescriptorProto{{
					Name: proto.String("Mode"),
					Value: []*descriptorpb.EnumValueDescriptorProto{
						{Name: proto.String("MODE_UNSPECIFIED"), Number: proto.Int32(0)},
						{Name: proto.String("MODE_FAST"), Number: proto.Int32(1)},
					},
				}},
			},
			{Name: proto.String("ResizeProgress"), Field: []*descriptorpb.FieldDescriptorProto{field("percent", 1, tInt32, "", false)}},
			{Name: proto.String("ResizeResult"), Field: []*descriptorpb.FieldDescriptorProto{field("url", 1, tString, "", false)}},
		},
	}
	// In the order protoc writes them: imports first.
	return &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{timestamp, resize}}
}

// Bytes is FileSet encoded, the contents of a --descriptor-set file.
func Bytes() []byte {
	b, err := proto.Marshal(FileSet())
	if err != nil {
		panic(err)
	}
	return b
}

// jsonName is protoc's lowerCamelCase JSON name of a field.
func jsonName(name string) string {
	out := make([]byte, 0, len(name))
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			out = append(out, c-'a'+'A')
			upper = false
		default:
			out = append(out, c)
			upper = false
		}
	}
	return string(out)
}
