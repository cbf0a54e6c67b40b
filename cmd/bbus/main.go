// Command bbus runs and drives a BlockchainBus node. See the README.
package main

import (
	"os"

	"github.com/bbusdev/bbus/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
