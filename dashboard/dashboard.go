// Package dashboard serves the bbus web dashboard: one page and its static
// assets (plain ES modules, a hand-written style sheet and an icon), embedded
// in the binary so that every node serves it offline, with no build step and
// nothing fetched from elsewhere. The page holds no ledger data: it reads
// everything from the node's REST API under /v1 in the browser, with the
// caller's own access, and follows GET /v1/events for live updates.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// AssetPrefix is the path under which the dashboard's assets are served. The
// page itself is served at "/".
const AssetPrefix = "/ui/"

//go:embed static
var static embed.FS

// contentSecurityPolicy keeps the page to its own origin: its own scripts,
// styles and API, nothing inline and nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets maps a request path ("/" for the page, "/ui/..." for the rest) to its file.
var assets = load()

func load() map[string]*asset {
	out := map[string]*asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not every system's MIME table knows these
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		rel := strings.TrimPrefix(p, "static/")
		a := &asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if rel == "index.html" {
			out["/"] = a
		} else {
			out[AssetPrefix+rel] = a
		}
		return nil
	})
	if err != nil {
		panic("dashboard: reading the embedded files: " + err.Error())
	}
	if out["/"] == nil {
		panic("dashboard: the embedded files hold no index.html")
	}
	return out
}

// Handler returns the dashboard's handler: GET (or HEAD) / serves the page and
// GET /ui/... its assets, each with a content hash as ETag so a browser
// revalidates cheaply; any other path is 404 and any other method 405.
func Handler() http.Handler { return http.HandlerFunc(serve) }

// Paths returns the path of every file the handler serves, in no fixed order.
func Paths() []string {
	out := make([]string, 0, len(assets))
	for p := range assets {
		out = append(out, p)
	}
	return out
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := assets[r.URL.Path]
	if a == nil {
		http.Error(w, "no such file in the dashboard", http.StatusNotFound)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	// The page and its modules change with the binary: revalidate each time
	// (a 304 when the ETag matches).
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
