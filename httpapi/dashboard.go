package httpapi

import (
	"net/http"
	"sort"

	"github.com/bbusdev/bbus/dashboard"
)

// dashboardRoutes serves the web dashboard (package dashboard): its page at /
// and each of its assets at its own path under dashboard.AssetPrefix, so any
// other path still gets the API's JSON 404. They are registered beside the
// API's routes, not among them: they are not part of the JSON API its OpenAPI
// document describes (Routes leaves them out), and they are public, since they
// hold no ledger data; the page reads that from /v1 with its reader's access.
func (a *api) dashboardRoutes() {
	ui := dashboard.Handler()
	paths := dashboard.Paths()
	sort.Strings(paths)
	for _, p := range paths {
		pattern, route := "GET "+p, "GET "+dashboard.AssetPrefix+"*"
		if p == "/" {
			pattern, route = "GET /{$}", "GET /"
		}
		a.mux.ServeMux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
				info.route = route // for the request metrics
			}
			ui.ServeHTTP(w, r)
		})
	}
}
