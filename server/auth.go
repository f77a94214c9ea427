package server

import (
	"net/http"

	"msw/internal/wire"
)

// Who may connect (docs/protocol.md, "Authentication"). With
// Options.Token set, every route but the health check needs the token:
// tools send it as "Authorization: Bearer TOKEN", the stream's upgrade
// included; a browser gets it as the msw_token cookie by opening the web
// page once as /?token=TOKEN. The cookie is HttpOnly (the page's
// scripts never see the token), SameSite=Strict (another site's page
// cannot make the browser send it) and Secure on TLS; the switch then
// redirects to / so that the token leaves the address bar and history.
// The page's own requests are same-origin and carry the cookie by
// themselves, so the page works unchanged.

// authorized reports whether r may proceed, answering it if not.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Token == "" || (r.URL.Path == wire.PathHealth && r.Method == http.MethodGet) {
		return true
	}
	if wire.TokenMatches(wire.BearerToken(r.Header), s.opts.Token) {
		return true
	}
	if c, err := r.Cookie(wire.CookieToken); err == nil && wire.TokenMatches(c.Value, s.opts.Token) {
		return true
	}
	if r.URL.Path == "/" && r.Method == http.MethodGet && r.URL.Query().Has(wire.ParamToken) {
		if !wire.TokenMatches(r.URL.Query().Get(wire.ParamToken), s.opts.Token) {
			writeError(w, &httpError{http.StatusUnauthorized, wire.CodeUnauthorized, "wrong token"})
			return false
		}
		http.SetCookie(w, &http.Cookie{
			Name: wire.CookieToken, Value: s.opts.Token, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="msw"`)
	msg := "this switch needs its token: give it with MSW_TOKEN or --token-file"
	if r.URL.Path == "/" {
		msg = "this switch needs its token: open /?" + wire.ParamToken + "=TOKEN once in this browser"
	}
	writeError(w, &httpError{http.StatusUnauthorized, wire.CodeUnauthorized, msg})
	return false
}
