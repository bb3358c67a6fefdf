package lro

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestPendingBroadcast(t *testing.T) {
	var b pendingBroadcast
	if n := testing.AllocsPerRun(100, b.fire); n != 0 {
		t.Errorf("fire with nobody waiting allocates %v times", n)
	}
	first, done1 := b.subscribe()
	second, done2 := b.subscribe()
	b.fire()
	for _, ch := range []<-chan struct{}{first, second} {
		select {
		case <-ch:
		default:
			t.Fatal("fire did not wake a waiter")
		}
	}
	done1()
	next, done3 := b.subscribe()
	select {
	case <-next:
		t.Fatal("a subscription after the fire is woken by it")
	default:
	}
	done2()
	done3()
	b.fire() // nobody waits: the next subscriber is not woken by it
	last, done4 := b.subscribe()
	defer done4()
	select {
	case <-last:
		t.Fatal("a fire with nobody waiting woke a later subscriber")
	default:
	}
}

func TestEncodeAndUnpackAny(t *testing.T) {
	s, err := structpb.NewStruct(map[string]any{"a": 1, "b": []any{"x", true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []proto.Message{s, wrapperspb.String("hello"), &emptypb.Empty{}, wrapperspb.Int64(-1)} {
		b, url, err := encodeAny(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		got := &anypb.Any{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatalf("%T: the encoding does not decode as an Any: %v", m, err)
		}
		if url != want.GetTypeUrl() || got.GetTypeUrl() != want.GetTypeUrl() {
			t.Errorf("%T: type URL %q (in the encoding %q), want %q", m, url, got.GetTypeUrl(), want.GetTypeUrl())
		}
		back := m.ProtoReflect().New().Interface()
		if err := unpackAny(b, back); err != nil || !proto.Equal(back, m) {
			t.Errorf("%T: unpackAny = %v, %v; want %v", m, back, err, m)
		}
	}
	b, _, _ := encodeAny(wrapperspb.String("x"))
	if err := unpackAny(b, &wrapperspb.Int64Value{}); err == nil {
		t.Error("unpackAny into another type succeeded")
	}
	if err := unpackAny([]byte{0xff, 0xff}, &wrapperspb.StringValue{}); err == nil {
		t.Error("unpackAny of garbage succeeded")
	}
}
