package server

import "net/http"

// metricsHandler serves GET /metrics.
func (s *Server) metricsHandler() http.Handler {
	return http.NotFoundHandler()
}
