package testsignal_test

import (
	"fmt"
	"testing"

	"lro.dev/lro/internal/testsignal"
)

func TestOffDoesNothing(t *testing.T) {
	var s testsignal.Signal[int]
	s.Signal(1) // must neither block nor panic
	if s.C() != nil {
		t.Fatal("C of a signal that is off is not nil")
	}
}

func TestWaitReturnsInOrder(t *testing.T) {
	var s testsignal.Signal[int]
	s.Init()
	s.Signal(1)
	s.Signal(2)
	if got := s.Wait(t); got != 1 {
		t.Fatalf("first Wait = %d, want 1", got)
	}
	if got := s.Wait(t); got != 2 {
		t.Fatalf("second Wait = %d, want 2", got)
	}
}

func TestFullDropsInsteadOfBlocking(t *testing.T) {
	var s testsignal.Signal[int]
	s.Init()
	for i := range testsignal.Capacity + 10 {
		s.Signal(i)
	}
	if n := len(s.C()); n != testsignal.Capacity {
		t.Fatalf("%d kept, want %d", n, testsignal.Capacity)
	}
}

type fatalRecorder struct{ msg string }

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestWaitOnOffSignalFails(t *testing.T) {
	var s testsignal.Signal[struct{}]
	var f fatalRecorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Wait(&f)
	}()
	<-done
	if f.msg == "" {
		t.Fatal("Wait on a signal that is off did not fail")
	}
}
