package node

import (
	"errors"
	"strings"
	"syscall"

	"github.com/bbusdev/bbus"
)

// portInUse turns the failure to listen on an address another program holds
// into an error that says so (code unavailable), naming what listens there
// (the consensus peer-to-peer port, the REST API) and how to choose another;
// any other error is returned as it is.
func portInUse(err error, what, addr, flag string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		return bbus.Errorf(bbus.EUNAVAILABLE, "the %s address %s is in use by another program: stop it, or choose another address (%s)", what, addr, flag)
	}
	return err
}
