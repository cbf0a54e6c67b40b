package node

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/bbusdev/bbus"
)

// fileError turns the failure to read a file the operator named (a genesis,
// a home's configuration) into an error with the code that names it:
// not_found for a file that is not there, invalid for one that cannot be read
// (a folder, no permission). Any other error is returned as it is.
func fileError(err error, what string) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return bbus.Errorf(bbus.ENOTFOUND, "%s: %v", what, err)
	case errors.As(err, &pe):
		return bbus.Errorf(bbus.EINVALID, "%s: %v", what, err)
	}
	return err
}

// homeError turns the failure to make a home's folders into an invalid
// error naming the home: a file where a folder must be, a parent that does
// not exist or may not be written.
func homeError(home string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return bbus.Errorf(bbus.EINVALID, "cannot make the home %s: %v", home, err)
	}
	return fmt.Errorf("create home: %w", err)
}

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
