package httpapi

import "github.com/capstream/capstream/stream"

// SetAppended makes s call f with each event a call appends to its log, on
// the call's goroutine, right after it is appended. Set it before the first
// call starts.
func SetAppended(s *Server, f func(stream.Event)) { s.appended = f }
