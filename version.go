package bbus

// Version is the version of bbus this program is, as `bbus version` prints it,
// /v1/status reports it and a node announces it to its peers. A release build
// sets it with -ldflags "-X github.com/bbusdev/bbus.Version=...".
var Version = "0.13.0-dev"
