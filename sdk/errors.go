package sdk

import (
	"strconv"

	"github.com/capstream/capstream/sdk/abi"
)

// Error is a host function's refusal or failure: the negative code it
// returned (one of abi.ErrDenied, abi.ErrNotFound, …) and the message the
// host staged with it. Compare with errors.Is and the Err* sentinels:
//
//	if errors.Is(err, sdk.ErrNotFound) { … }
//
// A refusal is data, not a crash: the call goes on and the tool decides.
type Error struct {
	Code    int32  // negative: an abi.Err* value
	Message string // for people; may be empty
}

// Sentinels for errors.Is: an *Error matches the sentinel with its code,
// whatever its message.
var (
	ErrDenied   = &Error{Code: abi.ErrDenied}   // the capability does not grant this
	ErrNotFound = &Error{Code: abi.ErrNotFound} // no such key
	ErrInvalid  = &Error{Code: abi.ErrInvalid}  // a malformed argument
	ErrQuota    = &Error{Code: abi.ErrQuota}    // the KV write would exceed the quota
	ErrUpstream = &Error{Code: abi.ErrUpstream} // the outbound request failed
	ErrTooLarge = &Error{Code: abi.ErrTooLarge} // an argument is larger than the host accepts
	ErrStorage  = &Error{Code: abi.ErrStorage}  // the host's store failed; nothing was written
)

// Error returns the code's name and the host's message, as in
// "denied: url is not in the allowlist".
func (e *Error) Error() string {
	name := abi.ErrorName(e.Code)
	if name == "unknown" {
		name = "error " + strconv.Itoa(int(e.Code))
	}
	if e.Message == "" {
		return name
	}
	return name + ": " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrDenied) holds for every denial.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}
