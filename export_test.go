package lro

// SetAfterClaim has c call f after each claim, once the claim's outcome is
// taken into account (such as whether pending operations remain). It must
// be called before Start.
func SetAfterClaim(c *Client, f func()) { c.producer.afterClaim = f }
