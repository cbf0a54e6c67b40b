package bbus_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/bbusdev/bbus"
)

// FuzzDecodeTx feeds arbitrary bytes to the transaction decoder: it must never
// panic, and whatever it accepts must be the one canonical encoding of what it
// decoded, with the id of exactly those body bytes.
func FuzzDecodeTx(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	for _, a := range []bbus.Action{
		{VMRegister: &bbus.VMRegister{VM: "vm-1", Image: "sha256:" + string(bytes.Repeat([]byte("ab"), 32)), Resources: bbus.Resources{CPU: 4, MemMiB: 8192}}},
		{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "cloud1", Agreement: "agr-1"}},
		{OfferPublish: &bbus.OfferPublish{Resources: bbus.Resources{CPU: 1}, PriceVCPUHour: 5, Tags: []bbus.Tag{{Key: "region", Value: "eu"}}}},
		{CloudJoin: &bbus.CloudJoin{Name: "c", PubKey: key.Public().(ed25519.PublicKey)}},
	} {
		raw, _, _ := bbus.SignTx(&bbus.Body{ChainID: "bbus-fuzz", Signer: "cloud0", Nonce: 9, Expires: 1 << 40, Action: a}, key)
		f.Add(raw)
	}
	f.Add([]byte(`{"body":{},"sig":""}`))
	f.Add([]byte(`{"body":{"chain_id":"x","signer":"y","nonce":1,"expires":2,"action":{"vm_terminate":{"vm":"z"}}},"sig":"AA=="}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := bbus.DecodeTx(raw)
		if err != nil {
			if bbus.ErrorCode(err) == bbus.EINTERNAL || bbus.ErrorMessage(err) == "" {
				t.Fatalf("rejection without a code or message: %v", err)
			}
			return
		}
		body, err := bbus.EncodeBody(&tx.Body)
		if err != nil || !bytes.Equal(body, tx.BodyBytes) {
			t.Fatalf("accepted a body that is not canonical:\n got  %s\n want %s", tx.BodyBytes, body)
		}
		if tx.ID != bbus.TxID(tx.BodyBytes) || len(tx.Sig) != ed25519.SignatureSize {
			t.Fatalf("id or signature inconsistent")
		}
		if !bytes.Contains(raw, tx.BodyBytes) {
			t.Fatalf("body bytes are not those received")
		}
	})
}
