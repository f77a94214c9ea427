// Package webui is the switch's web page: a live view of its queues, its
// services and its trace, for people who would rather look than read.
// The page, its scripts and its style sheet are hand-written files
// embedded in the binary (no build step; nothing is fetched from
// elsewhere), and the page reads the same HTTP API as the tools:
// /v1/queues, /v1/history, /v1/diagnostics and the /v1/trace long-poll.
package webui

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"

	"msw/internal/wire"
)

// AssetPrefix is the path under which the page's scripts and style sheet
// are served; the page itself is served on "/".
const AssetPrefix = "/ui/"

//go:embed assets
var assets embed.FS

// Options configure the page.
type Options struct {
	// Writes shows the page's buttons that change state (destroy a queue,
	// ack a message), each behind a confirmation. The switch must let
	// browsers write for them to work.
	Writes bool
}

// securityPolicy lets the page load only what the switch serves.
const securityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page on "/" and its assets under AssetPrefix.
func Handler(o Options) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	writes := "false"
	if o.Writes {
		writes = "true"
	}
	index = bytes.Replace(index, []byte(`data-writes="false"`), []byte(`data-writes="`+writes+`"`), 1)
	files := http.StripPrefix(AssetPrefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", securityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		if !strings.HasPrefix(r.URL.Path, AssetPrefix) {
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.Write(index)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, AssetPrefix)
		if name == "index.html" || !fs.ValidPath(name) || !isFile(sub, name) {
			// The page lives on "/"; no directory listings.
			h.Set("Content-Type", wire.ContentTypeJSON)
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(wire.Error{Code: wire.CodeNoSuchEndpoint, Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
			return
		}
		files.ServeHTTP(w, r)
	})
}

// isFile reports whether name is a file (not a directory) in fsys.
func isFile(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && !st.IsDir()
}
