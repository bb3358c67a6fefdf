package lro_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore/lrosqlite"
)

// A client with a tracer provider records a span for each start, child of
// the caller's span, and one for each attempt, child of the start's (on
// whichever node runs it: the start's trace context is stored with the
// operation). The handler's context carries its attempt's span.
func ExampleConfig_tracerProvider() {
	ctx := context.Background()
	// In production, an exporter: sdktrace.WithBatcher(otlptracehttp.New(...)).
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	store, err := lrosqlite.Open(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client, err := lro.NewClient(store, &lro.Config{TracerProvider: tp})
	if err != nil {
		log.Fatal(err)
	}
	lro.MustRegister(client, lro.Kind[*wrapperspb.StringValue, *emptypb.Empty, *wrapperspb.StringValue]{
		Name: "example.traced",
		Run: func(ctx context.Context, job *lro.Job[*wrapperspb.StringValue, *emptypb.Empty]) (*wrapperspb.StringValue, error) {
			_, span := tp.Tracer("example").Start(ctx, "the handler's own work") // nests under the attempt
			defer span.End()
			return wrapperspb.String("hello, " + job.Request.GetValue()), nil
		},
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}

	ctx, caller := tp.Tracer("example").Start(ctx, "caller")
	op, err := client.StartOperation(ctx, "example.traced", wrapperspb.String("traces"), nil)
	if err != nil {
		log.Fatal(err)
	}
	caller.End()
	if _, err := client.WaitOperation(ctx, op.GetName(), 10*time.Second); err != nil {
		log.Fatal(err)
	}
	if err := client.Stop(ctx); err != nil { // the attempt's span ends once its result is written
		log.Fatal(err)
	}

	names := map[trace.SpanID]string{}
	for _, s := range recorder.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, name := range []string{"caller", "lro.start example.traced", "lro.attempt example.traced", "the handler's own work"} {
		for _, s := range recorder.Ended() {
			if s.Name() == name {
				fmt.Printf("%s, child of %q\n", name, names[s.Parent().SpanID()])
			}
		}
	}
	// Output:
	// caller, child of ""
	// lro.start example.traced, child of "caller"
	// lro.attempt example.traced, child of "lro.start example.traced"
	// the handler's own work, child of "lro.attempt example.traced"
}
