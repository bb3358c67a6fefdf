//go:build !race

package leasetoken

const raceEnabled = false
