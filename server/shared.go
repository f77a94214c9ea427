package server

import "net/http"

// Guard wraps a handler of another protocol served beside this server
// (the compat listener) in the same browser guard, request count and -v
// request log as the server's own routes.
func (s *Server) Guard(h http.Handler) http.Handler { return s.guard(h) }
