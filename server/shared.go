package server

import "net/http"

// Guard wraps a handler of another protocol served beside this server
// (the compat listener) in the same browser guard, request count and -v
// request log as the server's own routes, but not the token check: the
// original protocol has no way to carry a token, so its listener is
// guarded by where it listens instead (a Unix socket's permissions;
// msw-switch refuses --compat on TCP beside --token-file unless told
// --compat-insecure).
func (s *Server) Guard(h http.Handler) http.Handler { return s.guardWith(h, false) }
