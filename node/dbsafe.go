package node

import (
	"sync/atomic"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// closeSafeDBProvider opens CometBFT's databases as the default provider does,
// wrapped so that a read racing with shutdown finds nothing instead of an
// error. CometBFT closes its block store while a peer's consensus goroutine may
// still be between two reads; the store panics on any read error, which would
// take down every node of the process. Reads that find nothing are already
// handled by those goroutines.
func closeSafeDBProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &closeSafeDB{DB: db}, nil
}

type closeSafeDB struct {
	dbm.DB
	closed atomic.Bool
}

func (d *closeSafeDB) Get(key []byte) ([]byte, error) {
	if d.closed.Load() {
		return nil, nil
	}
	v, err := d.DB.Get(key)
	if err != nil && d.closed.Load() {
		return nil, nil
	}
	return v, err
}

func (d *closeSafeDB) Has(key []byte) (bool, error) {
	if d.closed.Load() {
		return false, nil
	}
	ok, err := d.DB.Has(key)
	if err != nil && d.closed.Load() {
		return false, nil
	}
	return ok, err
}

func (d *closeSafeDB) Close() error {
	d.closed.Store(true)
	return d.DB.Close()
}
