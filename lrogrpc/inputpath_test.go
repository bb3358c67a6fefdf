package lrogrpc

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/kindfile/kindfiletest"
)

// TestBadInputJSONPath: JSON input that does not parse as a kind's typed
// request, here a dynamic one, is refused with the path of the field at
// fault as the field violation, and "input" when it cannot be told.
func TestBadInputJSONPath(t *testing.T) {
	files, err := protodesc.NewFiles(kindfiletest.FileSet())
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(kindfiletest.Package + ".ResizeRequest")
	if err != nil {
		t.Fatal(err)
	}
	md := d.(protoreflect.MessageDescriptor)
	for _, tc := range []struct{ input, field string }{
		{`{"sise": 1}`, "input.sise"},
		{`{"size": "big"}`, "input.size"},
		{`{"size": true}`, "input.size"},
		{`{"source": 3}`, "input.source"},
		{`{"box": {"widht": 1}}`, "input.box.widht"},
		{`{"box": [1]}`, "input.box"},
		{`{"boxes": [{"width": 1}, {"height": "x"}]}`, "input.boxes[1].height"},
		{`{"boxes": {"width": 1}}`, "input.boxes"},
		{`{"mode": "MODE_SLOW"}`, "input.mode"},
		{`{"fail_code": 1, "source": "a", "zzz": 1}`, "input.fail_code"},
		{`{"deadline": "yesterday"}`, "input"}, // a well-known type's own form: protojson says why
		{`{"size": 1.5}`, "input"},             // a number that is not an int32: likewise
	} {
		var v structpb.Value
		if err := protojson.Unmarshal([]byte(tc.input), &v); err != nil {
			t.Fatal(err)
		}
		m := dynamicpb.NewMessage(md)
		b, _ := protojson.Marshal(&v)
		perr := protojson.Unmarshal(b, m)
		if perr == nil {
			t.Errorf("%s parses", tc.input)
			continue
		}
		err := badInputJSON("media.resize", m, &v, perr)
		var e *lro.Error
		if !errors.As(err, &e) || e.Field != tc.field || e.Reason != "INVALID_INPUT" {
			t.Errorf("%s: got %#v, want the field %s", tc.input, err, tc.field)
		}
	}
}
