package client

import (
	"net/http"

	"github.com/bbusdev/bbus"
)

// CodeOfStatus returns the bbus code that best describes an HTTP status, for a
// response that does not carry the error shape (from a proxy, say): the
// inverse of the node's code-to-status mapping (httpapi.Status) where it is
// one to one, EINVALID for other 4xx, EUNAVAILABLE for 502, 503 and 504,
// EINTERNAL for anything else that is not 2xx, and "" for 2xx.
func CodeOfStatus(status int) string {
	switch {
	case status >= 200 && status < 300:
		return ""
	case status == http.StatusUnauthorized:
		return bbus.EUNAUTHENTICATED
	case status == http.StatusForbidden:
		return bbus.EFORBIDDEN
	case status == http.StatusNotFound:
		return bbus.ENOTFOUND
	case status == http.StatusRequestEntityTooLarge:
		return bbus.ETOOLARGE
	case status == http.StatusTooManyRequests:
		return bbus.ERATELIMITED
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return bbus.EUNAVAILABLE
	case status >= 400 && status < 500:
		return bbus.EINVALID
	}
	return bbus.EINTERNAL
}
