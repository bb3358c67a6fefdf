package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/lropb"
)

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeTracesFromEnv: lro serve traces as OpenTelemetry's variables
// say (here the console exporter, on its standard output), names its
// service from them, and flushes the last spans when it shuts down.
func TestServeTracesFromEnv(t *testing.T) {
	for _, name := range []string{"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(name, "")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SERVICE_NAME", "lro-serve-test")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + t.TempDir() + "/lro.db",
			"--log-level", "info"}, &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`msg="lro serving gRPC and HTTP" addr=(\S+)`)
	var addr string
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("lro serve did not listen; stderr:\n%s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond) // nothing to await: the log is the signal
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	input, err := structpb.NewValue(map[string]any{"duration": "0s"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := lropb.NewLroClient(conn).StartOperation(t.Context(), &lropb.StartOperationRequest{Kind: "demo.sleep",
		KindInput: &lropb.StartOperationRequest_Input{Input: input}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("lro serve did not stop")
	}
	out := stdout.String()
	for _, want := range []string{`"Name":"lro.v1.Lro/StartOperation"`, `"Key":"lro.operation.kind","Value":{"Type":"STRING","Value":"demo.sleep"}`, `"lro-serve-test"`, op.GetName()} {
		if !strings.Contains(out, want) {
			t.Errorf("the spans written at shutdown lack %s:\n%s", want, out)
		}
	}
}
