package evidence

import (
	"fmt"
	"runtime"
	"testing"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
)

// The signatures of a bundle are verified in one batch per processor: a bad
// one is reported, the first if several are bad, wherever it falls.
func TestFirstBadSignatureOfTheBatches(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	priv := cmted25519.GenPrivKey()
	pub := priv.PubKey().(cmted25519.PubKey)
	const n = 700
	build := func(bad ...int) *verifier {
		v := &verifier{}
		isBad := map[int]bool{}
		for _, i := range bad {
			isBad[i] = true
		}
		for i := 0; i < n; i++ {
			msg := []byte(fmt.Sprint("message ", i))
			sig, err := priv.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if isBad[i] {
				sig[5] ^= 1
			}
			if err := v.signature(pub, msg, sig, func() error { return fail(fmt.Sprint("sig ", i), "bad") }); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}
	if err := build().verifySignatures(); err != nil {
		t.Fatalf("all good: %v", err)
	}
	for _, c := range []struct {
		bad  []int
		want string
	}{{[]int{0}, "sig 0"}, {[]int{n - 1}, fmt.Sprint("sig ", n-1)}, {[]int{600, 20}, "sig 20"}, {[]int{500, 650}, "sig 500"}} {
		err, ok := build(c.bad...).verifySignatures().(*Error)
		if !ok || err.Field != c.want {
			t.Errorf("bad %v: %v, want %s", c.bad, err, c.want)
		}
	}
	if err := (&verifier{}).signature(pub, []byte("m"), []byte("short"), func() error { return fail("short", "bad") }); err == nil {
		t.Error("a signature of 5 bytes was taken")
	}
}
