package lro

import "lro.dev/lro/internal/testsignal"

// ClaimedSignal returns c's signal of a claim taken into account (such as
// whether pending operations remain), off until the test calls its Init,
// which must come before Start.
func ClaimedSignal(c *Client) *testsignal.Signal[struct{}] { return &c.producer.claimed }

// ClaimWaitingSignal returns c's signal of a claim long poll that found no
// pending operation and waits, off until the test calls its Init.
func ClaimWaitingSignal(c *Client) *testsignal.Signal[struct{}] { return &c.claimWaiting }
