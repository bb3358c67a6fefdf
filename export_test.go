package lro

import (
	"time"

	"lro.dev/lro/internal/testsignal"
)

// ClaimedSignal returns c's signal of a claim taken into account (such as
// whether pending operations remain), off until the test calls its Init,
// which must come before Start.
func ClaimedSignal(c *Client) *testsignal.Signal[struct{}] { return &c.producer.claimed }

// RescuePassedSignal returns c's signal of a pass of its rescue loop
// (deadlines, then lost workers), off until the test calls its Init, which
// must come before Start.
func RescuePassedSignal(c *Client) *testsignal.Signal[struct{}] { return &c.rescuer.passed }

// RemoteLeasesHeld returns how many leases a remote client's adapter maps.
func RemoteLeasesHeld(c *Client) int { return c.remote.work.held() }

// HeartbeatInterval returns c's heartbeat interval, as Start set it.
func HeartbeatInterval(c *Client) time.Duration { return c.config.HeartbeatInterval }

// ClaimWaitingSignal returns c's signal of a claim long poll that found no
// pending operation and waits, off until the test calls its Init.
func ClaimWaitingSignal(c *Client) *testsignal.Signal[struct{}] { return &c.claimWaiting }

// ObserveJobGoroutines has each goroutine of c's jobs call idle as it goes
// idle once its job has ended, and exited as it exits. It must be called
// after Start, before any operation runs.
func ObserveJobGoroutines(c *Client, idle, exited func()) { c.exec.runners.Observe(idle, exited) }
