package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/bbusdev/bbus"
)

// submit serves POST /v1/txs: the body is a signed transaction exactly as
// bbus.SignTx (or bbus tx --sign-only) produced it, handed to the backend byte
// for byte, since the ledger accepts only the canonical encoding.
func (a *api) submit(w http.ResponseWriter, r *http.Request) {
	wait, werr := waitParam(r)
	if werr != nil {
		writeError(w, werr)
		return
	}
	raw, rerr := readBody(w, r, a.opts.MaxBodyBytes)
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	// A file saved by an editor ends in a line break that is not part of the transaction.
	raw = bytes.TrimRight(raw, "\r\n")
	if len(raw) == 0 {
		writeError(w, bbus.Errorf(bbus.EMALFORMED, "request body is empty; send a signed transaction as bbus tx --sign-only prints it"))
		return
	}
	res, err := a.b.Submit(r.Context(), raw, wait)
	a.answerSubmit(w, r, res, err, wait)
}

// answerSubmit answers a submission with its outcome: 200 and the result once
// committed, 202 when not waited for, the error's status when refused before
// consensus, and the code's status with the result when the ledger rejected
// it in its block.
func (a *api) answerSubmit(w http.ResponseWriter, r *http.Request, res *bbus.TxResult, err error, wait bool) {
	switch {
	case err != nil:
		a.fail(w, r, err)
	case res == nil:
		a.fail(w, r, errors.New("backend returned no result and no error"))
	case res.Code != "":
		writeJSON(w, Status(res.Code), &bbus.ErrorResponse{Error: &bbus.Error{Code: res.Code, Message: res.Message}, Result: res})
	case !wait:
		writeJSON(w, http.StatusAccepted, res)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// tx serves GET /v1/txs/{id}: a committed transaction by its bbus id.
func (a *api) tx(w http.ResponseWriter, r *http.Request) {
	cr, ok := a.b.(ChainReader)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not serve transactions"))
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if b, err := hex.DecodeString(id); err != nil || len(b) != 32 {
		writeError(w, bbus.Errorf(bbus.EINVALID, "%q is not a transaction id or hash: 64 hex digits, the SHA-256 of the signed body (tx) or of the whole transaction (hash)", bbus.Clip(r.PathValue("id"))))
		return
	}
	a.chainRead(w, r, func(ctx context.Context) (any, error) { return cr.Tx(ctx, id) })
}

// block serves GET /v1/blocks/{height}.
func (a *api) block(w http.ResponseWriter, r *http.Request) {
	cr, ok := a.b.(ChainReader)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not serve blocks"))
		return
	}
	h, err := strconv.ParseInt(r.PathValue("height"), 10, 64)
	if err != nil || h < 1 {
		writeError(w, bbus.Errorf(bbus.EINVALID, "block height must be a whole number from 1, got %q", bbus.Clip(r.PathValue("height"))))
		return
	}
	a.chainRead(w, r, func(ctx context.Context) (any, error) { return cr.Block(ctx, h) })
}

func (a *api) chainRead(w http.ResponseWriter, r *http.Request, fn func(context.Context) (any, error)) {
	v, err := fn(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
