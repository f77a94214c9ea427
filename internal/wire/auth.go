package wire

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Who may connect. A switch started with a token (msw-switch
// --token-file) answers every request but the health check with 401
// unless it carries the token, in one of three places:
//
//   - the Authorization header, "Bearer TOKEN" (clients, the stream's
//     upgrade);
//   - the msw_token cookie, which the switch sets when the web page is
//     opened as /?token=TOKEN, so that the page's own requests carry it;
//   - nothing else: a token in any other query parameter is refused, so
//     that it does not end up in logs and Referer headers.
const (
	// CookieToken names the cookie that carries the token for browsers.
	CookieToken = "msw_token"
	// ParamToken is the query parameter of the web page's address that
	// sets CookieToken.
	ParamToken = "token"
	// MaxTokenLen bounds a token file's content, in bytes.
	MaxTokenLen = 4096
)

// BearerToken returns the token an Authorization header carries, or "".
func BearerToken(h http.Header) string {
	v := h.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// TokenMatches compares a presented token with the switch's in constant
// time: both are hashed first, so not even the length is told apart.
func TokenMatches(presented, want string) bool {
	p, w := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(p[:], w[:]) == 1
}
