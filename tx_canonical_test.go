package bbus

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

// DecodeTx's fast path (decodeCanonical) must accept exactly what the strict
// path accepts, and decode it the same: it may only decline more, since a
// decline falls back to the strict path.

func canonicalSeeds() [][]byte {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	var out [][]byte
	for _, a := range []Action{
		{VMRegister: &VMRegister{VM: "vm-1", Image: "sha256:" + strings.Repeat("ab", 32), Resources: Resources{CPU: 4, MemMiB: 8192}}},
		{MigrationPropose: &Propose{VM: "vm-1", To: "cloud1", Agreement: "agr-1"}},
		{MigrationComplete: &MigrationRef{Migration: "mig-12"}},
		{OfferPublish: &OfferPublish{Resources: Resources{CPU: 1}, PriceVCPUHour: 5, Tags: []Tag{{Key: "region", Value: "eu"}}}},
		{CloudJoin: &CloudJoin{Name: "c", PubKey: key.Public().(ed25519.PublicKey)}},
	} {
		raw, _, _ := SignTx(&Body{ChainID: "bbus-test", Signer: "cloud0", Nonce: 9, Expires: 1 << 40, Action: a}, key)
		out = append(out, raw)
	}
	return out
}

func checkAgrees(t *testing.T, raw []byte) {
	t.Helper()
	fast := decodeCanonical(raw)
	strict, err := decodeStrict(raw)
	if fast == nil {
		return
	}
	if err != nil {
		t.Fatalf("fast path accepts what the strict path rejects (%v):\n%s", err, raw)
	}
	if !reflect.DeepEqual(fast, strict) {
		t.Fatalf("the paths decode differently:\n fast   %+v\n strict %+v", fast, strict)
	}
}

func TestDecodeCanonicalAgreesWithStrict(t *testing.T) {
	for _, raw := range canonicalSeeds() {
		if decodeCanonical(raw) == nil {
			t.Fatalf("fast path declines a canonical transaction:\n%s", raw)
		}
		checkAgrees(t, raw)
		s := string(raw)
		sigAt := len(s) - 2 - sigB64
		sig, _ := base64.StdEncoding.DecodeString(s[sigAt : len(s)-2])
		// The last base64 character carries 2 unused bits: other characters
		// decode to the same signature but are not canonical.
		last := s[len(s)-5]
		variants := []string{
			strings.Replace(s, `"chain_id"`, `"Chain_ID"`, 1),
			strings.Replace(s, `"nonce":9`, `"nonce":9,"nonce":9`, 1),
			strings.Replace(s, `"nonce":9`, `"nonce":9,"extra":1`, 1),
			strings.Replace(s, `"nonce":9`, `"nonce": 9`, 1),
			strings.Replace(s, `"nonce":9`, `"nonce":9.0`, 1),
			strings.Replace(s, `"cloud0"`, `"cloud\u0030"`, 1),
			strings.Replace(s, `{"body":`, `{"body" :`, 1),
			strings.Replace(s, `,"sig":"`, `, "sig":"`, 1),
			s[:len(s)-5] + string(last^1) + s[len(s)-4:],
			s[:len(s)-5] + string(last+1) + s[len(s)-4:],
			s[:sigAt] + base64.RawStdEncoding.EncodeToString(sig) + `=="}`,
			s[:sigAt] + base64.URLEncoding.EncodeToString(sig) + `"}`,
			s + " ",
			" " + s,
			s[:len(s)-2] + `","sig":"` + s[sigAt:],
			strings.Replace(s, `"action":{`, `"action":{"vm_terminate":{"vm":"x"},`, 1),
		}
		for _, v := range variants {
			checkAgrees(t, []byte(v))
		}
		for i := 0; i < len(raw); i++ {
			for _, b := range []byte{' ', '"', '\\', '0', 'A', ',', '}', '=', '+'} {
				m := bytes.Clone(raw)
				m[i] = b
				checkAgrees(t, m)
			}
		}
	}
}

func FuzzDecodeCanonicalAgreesWithStrict(f *testing.F) {
	for _, raw := range canonicalSeeds() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkAgrees(t, raw) })
}

// TestDecodeTxEscapes pins what DecodeTx says of escapes: json.Marshal's
// spelling of '<' (\u003c) is the canonical one and decodes, and the body's
// validation then refuses the character; a bare '<', or an escape Marshal
// does not write, is not canonical.
func TestDecodeTxEscapes(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	raw, _, err := SignTx(&Body{ChainID: "bbus-test", Signer: "cloud0", Nonce: 9, Expires: 1 << 31,
		Action: Action{AgreementDecline: &AgreementDecline{Agreement: "agr-1", Reason: "a<b"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`a\u003cb`)) {
		t.Fatalf("the canonical body does not escape '<':\n%s", raw)
	}
	tx, err := DecodeTx(raw)
	if err != nil {
		t.Fatalf("the canonical escape is refused: %v", err)
	}
	if err := tx.Body.Validate(); ErrorCode(err) != EINVALID {
		t.Errorf("a reason with '<' validates: %v", err)
	}
	for _, bad := range [][]byte{
		bytes.Replace(raw, []byte(`a\u003cb`), []byte(`a<b`), 1),
		bytes.Replace(raw, []byte(`"agr-1"`), []byte(`"\u0061gr-1"`), 1),
	} {
		if _, err := DecodeTx(bad); ErrorCode(err) != EMALFORMED {
			t.Errorf("DecodeTx(%s) = %v, want malformed", bad, err)
		}
	}
}
