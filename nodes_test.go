package bbus

import "testing"

func TestP2PAddressRange(t *testing.T) {
	for addr, ok := range map[string]bool{
		"10.0.0.1:26656": true, "node.cloud-a.example:26656": true, "[2001:db8::1]:26656": true, "localhost:1": true,
		"": false, "10.0.0.1": false, "10.0.0.1:0": false, "10.0.0.1:65536": false, "10.0.0.1:026656": false,
		"300.0.0.1:26656": false, "-bad.example:26656": false, "a..b:26656": false, "[::1:26656": false,
		"2001:db8::1:26656": false, "tcp://10.0.0.1:26656": false, "host name:1": false,
	} {
		if err := ValidateP2PAddress("p2p_address", addr, true); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", addr, err, ok)
		} else if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("%q: code %s", addr, ErrorCode(err))
		}
	}
	for id, ok := range map[string]bool{
		"0123456789abcdef0123456789abcdef01234567": true, "": false,
		"0123456789ABCDEF0123456789abcdef01234567": false, "0123": false, "g123456789abcdef0123456789abcdef01234567": false,
	} {
		if err := ValidateNodeID("node_id", id, true); (err == nil) != ok {
			t.Errorf("node id %q: %v, want ok=%v", id, err, ok)
		}
	}
}
