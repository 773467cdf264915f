package policy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error Parse, Load and Reload return for a problem
// in the file is an *Error whose Err wraps one of them, so callers can tell
// the kinds apart with errors.Is.
var (
	// ErrSyntax means the file is not well-formed YAML.
	ErrSyntax = errors.New("policy: invalid YAML")
	// ErrUnknownKey means a mapping has a key the policy format does not define.
	ErrUnknownKey = errors.New("policy: unknown key")
	// ErrType means a value has the wrong YAML type, e.g. a string where a list belongs.
	ErrType = errors.New("policy: wrong type")
	// ErrInvalid means a value has the right type but is not acceptable:
	// a bad size, duration, URL, method, tool name or limit.
	ErrInvalid = errors.New("policy: invalid value")
	// ErrMissing means a required key is absent.
	ErrMissing = errors.New("policy: missing key")
	// ErrEmpty means the file holds no policy at all.
	ErrEmpty = errors.New("policy: empty policy file")
	// ErrTooLarge means the file, or its expansion through YAML aliases,
	// exceeds what a policy plausibly needs (see MaxFileSize).
	ErrTooLarge = errors.New("policy: policy file too large")
)

// Error is a problem at one place in a policy file. Its text reads
// "FILE:LINE: what is wrong", e.g.
//
//	policy.yaml:7: unknown key "tool" in role "analyst"; did you mean "tools"?
type Error struct {
	File string // the name given to Parse, or the path given to Load
	Line int    // 1-based; 0 when the problem is with the file as a whole
	Err  error  // what is wrong; wraps one of the sentinel errors
}

// Error returns "FILE:LINE: message", or "FILE: message" without a line.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Err)
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// problem is the Err of an *Error: a message for people that unwraps to a
// sentinel. Its text does not repeat the sentinel's, which would only say
// "policy: ..." once more after the file name.
type problem struct {
	kind error
	msg  string
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.kind }

// maxProblems is how many problems Parse reports before it stops looking.
const maxProblems = 10
