package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/dashboard"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestServedByTheAPI checks what every node serves: the page at /, each asset
// with its type and an ETag a browser can revalidate, a policy that keeps the
// page to its own origin, and still the API's JSON 404 for what is neither.
func TestServedByTheAPI(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(ledgertest.New(), httpapi.Options{}))
	defer srv.Close()

	res, body := get(t, srv.URL+"/")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `<main id="main"`) {
		t.Fatalf("GET /: %d %s %.80q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy %q", csp)
	}
	etag := res.Header.Get("ETag")
	if res, _ := get(t, srv.URL+"/", "If-None-Match", etag); etag == "" || res.StatusCode != http.StatusNotModified {
		t.Errorf("GET / with If-None-Match %s: %d, want 304", etag, res.StatusCode)
	}
	types := map[string]string{".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
	for _, p := range dashboard.Paths() {
		if p == "/" {
			continue
		}
		res, _ := get(t, srv.URL+p)
		want := types[p[strings.LastIndex(p, "."):]]
		if res.StatusCode != 200 || want == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %q, want 200 %s", p, res.StatusCode, res.Header.Get("Content-Type"), want)
		}
	}
	for _, p := range []string{"/v1/nothing", "/ui/nothing.js", "/ui/", "/ui", "/index.html"} {
		res, body := get(t, srv.URL+p)
		var e bbus.ErrorResponse
		if res.StatusCode != 404 || json.Unmarshal([]byte(body), &e) != nil || e.Error == nil || e.Error.Code != "not_found" {
			t.Errorf("GET %s: %d %q, want the API's JSON 404", p, res.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/ui/style.css", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 405 {
		t.Errorf("POST /ui/style.css: %v %v, want 405", res, err)
	}
}

// TestOffline checks that the dashboard needs nothing but its own node: no
// file refers to another origin, and every module, style sheet and image a
// file names is one the handler serves.
func TestOffline(t *testing.T) {
	srv := httptest.NewServer(dashboard.Handler())
	defer srv.Close()
	served := dashboard.Paths()
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/:"']`)
	refs := regexp.MustCompile(`(?m)(?:^import\s[^;]*?\sfrom\s+|^import\s+|import\(\s*|\ssrc=|\shref=)["']([^"'#?]+)["']`)
	for _, p := range served {
		_, body := get(t, srv.URL+p)
		for _, m := range external.FindAllString(body, -1) {
			if !strings.Contains(m, "//www.w3.org/") { // the SVG namespace: a name, never loaded
				t.Errorf("%s refers to another origin: %s", p, m)
			}
		}
		for _, m := range refs.FindAllStringSubmatch(body, -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "/v1/") {
				continue // the API, served beside the dashboard
			}
			if !strings.HasPrefix(ref, "/") {
				dir := p[:strings.LastIndex(p, "/")+1]
				ref = resolve(dir + ref)
			}
			if !slices.Contains(served, ref) {
				t.Errorf("%s names %s (%s), which the dashboard does not serve", p, m[1], ref)
			}
		}
	}
}

// resolve removes ./ and ../ from a path.
func resolve(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case ".":
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return strings.Join(out, "/")
}
