package ui

import (
	"encoding/json"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro/lropb/demopb"
)

func TestProgressOf(t *testing.T) {
	op := func(md *anypb.Any) *longrunningpb.Operation { return &longrunningpb.Operation{Metadata: md} }
	mustAny := func(m *demopb.SleepMetadata) *anypb.Any {
		a, err := anypb.New(m)
		require.NoError(t, err)
		return a
	}
	p := progressOf(op(mustAny(&demopb.SleepMetadata{ProgressPercent: 42})))
	require.NotNil(t, p)
	require.InDelta(t, 42, *p, 0)
	p = progressOf(op(mustAny(&demopb.SleepMetadata{})))
	require.NotNil(t, p, "unset is 0%")
	require.InDelta(t, 0, *p, 0)

	require.Nil(t, progressOf(op(nil)), "no metadata")
	d, err := anypb.New(durationpb.New(5))
	require.NoError(t, err)
	require.Nil(t, progressOf(op(d)), "no field says percent")
	require.Nil(t, progressOf(op(&anypb.Any{TypeUrl: "type.googleapis.com/not.Known"})), "a type this binary does not know")
}

// An operation whose metadata is of a type this binary does not know is
// shown with its type, rather than failing the page.
func TestMarshalOperationUnknownType(t *testing.T) {
	op := &longrunningpb.Operation{Name: "operations/x", Done: true,
		Metadata: &anypb.Any{TypeUrl: "type.googleapis.com/not.Known", Value: []byte{1, 2}},
		Result:   &longrunningpb.Operation_Response{Response: &anypb.Any{TypeUrl: "type.googleapis.com/not.Either"}}}
	b, err := marshalOperation(op)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, "operations/x", m["name"])
	require.Equal(t, true, m["done"])
	require.Equal(t, "type.googleapis.com/not.Known", m["metadata"].(map[string]any)["@type"])
	require.Equal(t, "type.googleapis.com/not.Either", m["response"].(map[string]any)["@type"])
}
