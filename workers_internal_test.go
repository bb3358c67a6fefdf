package lro

import "testing"

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
