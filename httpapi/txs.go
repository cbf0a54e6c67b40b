package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/bbusdev/bbus"
)

// submit serves POST /v1/txs: the body is a signed transaction exactly as
// bbus.SignTx (or bbus tx --sign-only) produced it, handed to the backend byte
// for byte, since the ledger accepts only the canonical encoding.
func (a *api) submit(w http.ResponseWriter, r *http.Request) {
	wait := true
	if v := r.URL.Query().Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, bbus.Errorf(bbus.EINVALID, "wait must be true or false, got %q", v))
			return
		}
		wait = b
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	// A file saved by an editor ends in a line break that is not part of the transaction.
	raw = bytes.TrimRight(raw, "\r\n")
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, bbus.Errorf(bbus.ETOOLARGE, "request body is over the limit of %d bytes", tooLarge.Limit))
		return
	case err != nil:
		writeError(w, bbus.Errorf(bbus.EMALFORMED, "reading the request body: %v", err))
		return
	case len(raw) == 0:
		writeError(w, bbus.Errorf(bbus.EMALFORMED, "request body is empty; send a signed transaction as bbus tx --sign-only prints it"))
		return
	}
	res, err := a.b.Submit(r.Context(), raw, wait)
	switch {
	case err != nil:
		a.fail(w, r, err)
	case res == nil:
		a.fail(w, r, errors.New("backend returned no result and no error"))
	case res.Code != "":
		writeJSON(w, Status(res.Code), &ErrorResponse{Error: &bbus.Error{Code: res.Code, Message: res.Message}, Result: res})
	case !wait:
		writeJSON(w, http.StatusAccepted, res)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}
