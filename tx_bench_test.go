package bbus_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
)

// Benchmarks of the per-transaction work every node does before the ledger's
// rules: canonical decoding and the signature check (CheckTx does both, and
// FinalizeBlock again). Run: go test -run '^$' -bench . .

func benchTx(b *testing.B) (raw []byte, pub ed25519.PublicKey) {
	b.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	raw, _, err := bbus.SignTx(&bbus.Body{
		ChainID: "bbus-bench", Signer: "cloud0", Nonce: 4503599627370495, Expires: time.Now().Add(10 * time.Minute).Unix(),
		Action: bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-3f2a9c-12345", To: "cloud1"}},
	}, priv)
	if err != nil {
		b.Fatal(err)
	}
	return raw, pub
}

func BenchmarkDecodeTx(b *testing.B) {
	raw, _ := benchTx(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bbus.DecodeTx(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	raw, pub := benchTx(b)
	tx, _ := bbus.DecodeTx(raw)
	b.ReportAllocs()
	for b.Loop() {
		if !keys.Verify(pub, tx.BodyBytes, tx.Sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkDecodeAndVerify is what admitting a transaction costs before any
// state is read.
func BenchmarkDecodeAndVerify(b *testing.B) {
	raw, pub := benchTx(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		tx, err := bbus.DecodeTx(raw)
		if err != nil || !keys.Verify(pub, tx.BodyBytes, tx.Sig) {
			b.Fatal("does not decode or verify")
		}
	}
}

// BenchmarkSignTx is what a client pays to make a transaction.
func BenchmarkSignTx(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	body := &bbus.Body{ChainID: "bbus-bench", Signer: "cloud0", Nonce: 1, Expires: 1 << 40,
		Action: bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-123456"}}}
	b.ReportAllocs()
	for b.Loop() {
		body.Nonce++
		if _, _, err := bbus.SignTx(body, priv); err != nil {
			b.Fatal(err)
		}
	}
}
