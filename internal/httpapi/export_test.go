package httpapi

import "github.com/capstream/capstream/stream"

// SetAppended makes s call f with each event a call appends to its log, on
// the call's goroutine, right after it is appended. Set it before the first
// call starts.
func SetAppended(s *Server, f func(stream.Event)) { s.appended = f }

// SetMCPFastPath turns mcpFast on or off; it is on by default. Set it
// before the first request.
func SetMCPFastPath(s *Server, on bool) { s.mcpNoFast = !on }

// MCPFastCalls is the number of tools/calls mcpFast answered.
func MCPFastCalls(s *Server) int64 { return s.mcpFastCalls.Load() }
