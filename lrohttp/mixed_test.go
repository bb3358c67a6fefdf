package lrohttp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"

	"lro.dev/lro"
)

// TestMixedLoad: gRPC keeps working on the port it shares with HTTP while
// HTTP requests run concurrently.
func TestMixedLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	name := e.start(t, testParent, kindEcho, `{"failMessage":"load"}`)
	e.waitDone(t, name)
	held, g := e.startHeld(t, "", kindBlock, "held")
	defer g.Release()

	const workers, requests = 4, 200
	errs := make(chan error, 2*workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- func() error {
				for i := range requests {
					target := name
					if i%2 == 1 {
						target = held
					}
					resp, err := e.http.Get(e.base + "/v1/" + target)
					if err != nil {
						return fmt.Errorf("http worker %d, request %d: %w", w, i, err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						return fmt.Errorf("http worker %d, request %d: %w", w, i, err)
					}
					var op struct {
						Name string
						Done bool
					}
					if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &op) != nil || op.Name != target || op.Done != (target == name) {
						return fmt.Errorf("http worker %d, request %d: %d %s", w, i, resp.StatusCode, body)
					}
				}
				return nil
			}()
		})
		wg.Go(func() {
			errs <- func() error {
				for i := range requests {
					target := name
					if i%2 == 1 {
						target = held
					}
					op, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: target})
					if err != nil {
						return fmt.Errorf("grpc worker %d, request %d: %w", w, i, err)
					}
					if op.GetName() != target || op.GetDone() != (target == name) {
						return fmt.Errorf("grpc worker %d, request %d: %v", w, i, op)
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
