package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The ledger must compute the same state on every validator, so it and the
// packages it is built from may do no I/O and read no clock, no randomness and no
// floating point. These tests read their source to keep them so.

// pureImports are the standard packages that do no I/O and read no clock or
// randomness (time is allowed for its types and arithmetic; its clock
// functions are forbidden below). io is allowed for io.EOF and its interfaces.
var pureImports = map[string]bool{
	"bytes": true, "cmp": true, "crypto/sha256": true, "encoding/base64": true, "encoding/binary": true,
	"encoding/hex": true, "encoding/json": true, "errors": true, "fmt": true, "io": true, "maps": true,
	"math/bits": true, "math/big": true, "reflect": true, "slices": true, "sort": true, "strconv": true, "strings": true,
	"time": true, "unicode": true, "unicode/utf8": true,
	// a mutex for the memo of decoded records (memo.go), which holds only what
	// decoding the same bytes gives, so no result depends on who read first
	"sync":                       true,
	"github.com/bbusdev/bbus":    true,
	"github.com/bbusdev/bbus/kv": true,
	// an in-memory B-tree (the kv overlay's ordered staged writes): no I/O, clock or randomness
	"github.com/google/btree": true,
}

// forbiddenImport says why an import is never allowed, or "" if no rule names it.
func forbiddenImport(path string) string {
	switch {
	case path == "os" || strings.HasPrefix(path, "os/"):
		return "file system and process access"
	case path == "net" || strings.HasPrefix(path, "net/"):
		return "network access"
	case path == "math/rand" || strings.HasPrefix(path, "math/rand/") || path == "crypto/rand":
		return "randomness"
	case path == "io/fs" || path == "io/ioutil":
		return "file system access"
	case path == "syscall" || path == "unsafe" || path == "runtime" || path == "log" || strings.HasPrefix(path, "log/"):
		return "system access"
	case path == "math":
		return "floating point"
	case strings.HasPrefix(path, "github.com/cometbft/"):
		return "the consensus engine"
	}
	return ""
}

// clockFuncs are the functions of package time that read the wall clock or wait.
var clockFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTicker": true, "NewTimer": true, "LoadLocation": true, "Local": true,
}

// printFuncs are the functions of package fmt that write or read a stream.
var printFuncs = map[string]bool{
	"Print": true, "Println": true, "Printf": true, "Fprint": true, "Fprintln": true, "Fprintf": true,
	"Scan": true, "Scanln": true, "Scanf": true, "Fscan": true, "Fscanln": true, "Fscanf": true,
}

func TestLedgerIsPure(t *testing.T) {
	checkPure(t, ".", "ledger.go", nil)
}

func TestKVIsPure(t *testing.T) {
	checkPure(t, "../kv", "kv.go", nil)
}

func TestDomainIsPure(t *testing.T) {
	// The domain package signs and verifies transactions itself.
	checkPure(t, "..", "tx.go", map[string]bool{"crypto/ed25519": true})
}

// checkPure parses the non-test Go files of dir, which must include mustHave,
// and fails on every import outside pureImports and extra, every call of a clock
// function and every floating-point type or constant.
func checkPure(t *testing.T, dir, mustHave string, extra map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := false
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		seen = seen || filepath.Base(file) == mustHave
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, fset, f, extra)
		// And plainly, whatever the file names its imports: not even a comment
		// may mention these.
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, word := range []string{"time.Now", "time.Since", "float32", "float64"} {
			if i := strings.Index(string(src), word); i >= 0 {
				t.Errorf("%s:%d: mentions %s", file, 1+strings.Count(string(src[:i]), "\n"), word)
			}
		}
	}
	if !seen {
		t.Fatalf("%s has no %s: is the test looking at the right directory?", dir, mustHave)
	}
}

func checkFile(t *testing.T, fset *token.FileSet, f *ast.File, extra map[string]bool) {
	t.Helper()
	local := map[string]string{} // name the file uses -> import path
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		pos := fset.Position(imp.Pos())
		if why := forbiddenImport(path); why != "" && !extra[path] {
			t.Errorf("%s: imports %s (%s): the ledger must be a pure function of its inputs", pos, path, why)
		} else if !pureImports[path] && !extra[path] {
			t.Errorf("%s: imports %s, which is not on the list of packages known to be pure; add it to pureImports only if it does no I/O and reads no clock or randomness", pos, path)
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name == "_" || name == "." {
			t.Errorf("%s: imports %s as %s; name it so that its uses can be checked", pos, path, name)
		}
		local[name] = path
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			x, ok := n.X.(*ast.Ident)
			if !ok {
				break
			}
			switch local[x.Name] {
			case "time":
				if clockFuncs[n.Sel.Name] {
					t.Errorf("%s: uses time.%s: the only clock of the ledger is the block time", fset.Position(n.Pos()), n.Sel.Name)
				}
			case "fmt":
				if printFuncs[n.Sel.Name] {
					t.Errorf("%s: uses fmt.%s, which does I/O", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
		case *ast.Ident:
			switch n.Name {
			case "float32", "float64", "complex64", "complex128":
				t.Errorf("%s: uses %s: the ledger holds no floating point", fset.Position(n.Pos()), n.Name)
			}
		case *ast.BasicLit:
			if n.Kind == token.FLOAT || n.Kind == token.IMAG {
				t.Errorf("%s: floating-point constant %s: the ledger holds no floating point", fset.Position(n.Pos()), n.Value)
			}
		case *ast.GoStmt:
			t.Errorf("%s: starts a goroutine: the ledger runs in the caller's order only", fset.Position(n.Pos()))
		case *ast.SelectStmt:
			t.Errorf("%s: select chooses at random among ready cases", fset.Position(n.Pos()))
		}
		return true
	})
}
