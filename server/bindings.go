package server

import (
	"net/http"

	"msw/broker"
	"msw/internal/wire"
)

// bind binds the queue named to the pattern named: PUT
// /v1/queues/{name}/bindings/{pattern}.
func (s *Server) bind(w http.ResponseWriter, r *http.Request) {
	s.bindingOp(w, r, s.b.Bind)
}

// unbind removes that binding: DELETE /v1/queues/{name}/bindings/{pattern}.
func (s *Server) unbind(w http.ResponseWriter, r *http.Request) {
	s.bindingOp(w, r, s.b.Unbind)
}

func (s *Server) bindingOp(w http.ResponseWriter, r *http.Request, op func(*broker.Session, string, []string) error) {
	sess, err := s.optionalSession(r)
	if err == nil {
		err = op(sess, r.PathValue("name"), []string{r.PathValue("pattern")})
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listBindings lists every binding: GET /v1/bindings.
func (s *Server) listBindings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.BindingsResponse{Bindings: s.b.Bindings()})
}
