package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus"
)

// TxTTL is how long past the signer's clock a transaction Signer.Sign makes
// stays valid.
const TxTTL = 10 * time.Minute

// Signer builds and signs transactions for one cloud (or oracle) of a chain.
type Signer struct {
	ChainID string
	ID      string // the signer: the cloud's id, or the applicant's for a cloud join
	Key     ed25519.PrivateKey
}

// Sign returns the bytes of a transaction that carries action, signed with the
// signer's key, and the transaction's id. Its nonce is random (below 2^53, so
// that any JSON reader holds it exactly) and it expires TxTTL past the local
// clock: the only use bbus makes of a client's clock.
func (s Signer) Sign(action bbus.Action) (raw []byte, txid string, err error) {
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, "", bbus.Errorf(bbus.EINVALID, "signer %s has no ed25519 private key", s.ID)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	return bbus.SignTx(&bbus.Body{
		ChainID: s.ChainID,
		Signer:  s.ID,
		Nonce:   binary.BigEndian.Uint64(b[:]) & (1<<53 - 1),
		Expires: time.Now().Add(TxTTL).Unix(),
		Action:  action,
	}, s.Key)
}
