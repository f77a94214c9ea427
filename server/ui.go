package server

import (
	"net/http"

	"msw/internal/wire"
	"msw/server/webui"
)

// page serves the web page (GET /) and its assets (GET /ui/...).
func (s *Server) page() http.Handler {
	return webui.Handler(webui.Options{Writes: s.opts.UIWrites})
}

// browserWrite refuses a request that would change state when a browser
// makes it (it carries an Origin, or the Sec-Fetch-Site every current
// browser adds) and the switch was not started with Options.UIWrites: the
// web page is read-only unless the operator says otherwise. Tools send
// neither header and are not affected.
func (s *Server) browserWrite(r *http.Request) error {
	if s.opts.UIWrites || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") == "" {
		return nil
	}
	return &httpError{http.StatusForbidden, wire.CodeForbidden, r.Method + " " + r.URL.Path + " from a browser refused: the switch's web page is read-only (start msw-switch with --ui-writes)"}
}
