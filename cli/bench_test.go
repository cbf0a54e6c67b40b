package cli_test

import "testing"

func TestBenchWANDelayFlags(t *testing.T) {
	fails(t, 2, "error: --wan-delay needs --validators 2 or more", "bench", "--wan-delay", "40ms")
	fails(t, 2, "error: --wan-delay needs --validators 2 or more", "bench", "--validators", "4", "--wan-delay", "40ms", "--node", "http://127.0.0.1:1", "--from", "c1")
	fails(t, 2, "error: --wan-delay must be between 0 and 10s", "bench", "--validators", "4", "--wan-delay", "-1ms")
	fails(t, 2, "error: --wan-delay must be between 0 and 10s", "bench", "--validators", "4", "--wan-delay", "11s")
}
