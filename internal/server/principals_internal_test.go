package server

import (
	"fmt"
	"testing"
	"time"
)

// TestPrincipalsBounded: however many principals call, the limits keep
// state for at most principalsMax; a principal with a wait under way keeps
// its state (its count), and so does one whose bucket is not full while
// others hold nothing.
func TestPrincipalsBounded(t *testing.T) {
	t.Parallel()
	l := newPrincipalLimits(PrincipalLimits{Rate: 1, Waits: 1})
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state("waiting", now).waits = 1
	l.state("busy", now).bucket.ReserveN(now, 1)
	for i := range 3 * principalsMax {
		l.state(fmt.Sprint("p", i), now)
		if len(l.principals) > principalsMax {
			t.Fatalf("%d principals kept, more than %d", len(l.principals), principalsMax)
		}
	}
	if s := l.principals["waiting"]; s == nil || s.waits != 1 {
		t.Error("the state of a principal with a wait under way was dropped")
	}
	if l.principals["busy"] == nil {
		t.Error("the state of a principal with tokens taken was dropped before idle ones")
	}
}
