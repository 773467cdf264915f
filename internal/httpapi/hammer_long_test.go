//go:build long

package httpapi_test

import "testing"

// TestLongHammerIsolation is TestHammerIsolation ten times over: 200
// principals, 21,000 requests, 600 clients against caps of 32 calls, 2 per
// principal.
func TestLongHammerIsolation(t *testing.T) {
	hammerIsolation(t, hammerSize{principals: 200, ops: 105, workers: 3, maxCalls: 32, maxPerSubject: 2})
}

// TestLongHammerCapsHold is TestHammerCapsHold with 1,000 bursts, enough
// to catch a narrow admission race without -race.
func TestLongHammerCapsHold(t *testing.T) { capsHold(t, 1000) }
