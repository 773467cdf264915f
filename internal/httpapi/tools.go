package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// toolInfo is a tool as GET /v1/tools lists it: the MCP tool shape.
type toolInfo struct {
	Name         string          `json:"name"`
	Title        string          `json:"title"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
}

// listTools is GET /v1/tools: the tools this principal may call.
func (s *Server) listTools(w http.ResponseWriter, _ *http.Request, _ httprouter.Params, v viewer) {
	grants := v.Policy.Grants(v.Roles)
	tools := []toolInfo{}
	for _, t := range s.cfg.Engine.Tools() {
		if grants.Permits(t.Name) {
			tools = append(tools, toolInfo{t.Name, t.Title, t.Description, t.InputSchema, t.OutputSchema, t.Annotations})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tools": tools})
}
