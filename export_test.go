package lro

import "lro.dev/lro/internal/testsignal"

// ClaimedSignal returns c's signal of a claim taken into account (such as
// whether pending operations remain), off until the test calls its Init,
// which must come before Start.
func ClaimedSignal(c *Client) *testsignal.Signal[struct{}] { return &c.producer.claimed }
