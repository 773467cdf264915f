package stream

import "errors"

var (
	// ErrClosed is returned by [Log.Append] once the log holds its terminal
	// event: a call has exactly one, and it is the last.
	ErrClosed = errors.New("stream: log closed by terminal event")

	// ErrFull is returned by [Log.Append] for a non-terminal event that would
	// take the log beyond its [LogConfig] bound. Terminal events are always
	// accepted.
	ErrFull = errors.New("stream: log full")

	// ErrInvalidType is returned for an event type that is empty or holds
	// anything but printable ASCII other than space.
	ErrInvalidType = errors.New("stream: invalid event type")

	// ErrInvalidData is returned for event data that is not valid JSON.
	ErrInvalidData = errors.New("stream: invalid event data")

	// ErrOutOfOrder is returned by [Log.Put] for an event that is not the
	// next one of the log's call.
	ErrOutOfOrder = errors.New("stream: event out of order")

	// ErrAbandoned is wrapped by the error readers of an abandoned log get
	// (see [Log.Abandon]).
	ErrAbandoned = errors.New("stream: the rest of the call is not readable here")

	// ErrFenced is wrapped by a [Store]'s Appender when another writer
	// (a replica that found this one dead) has ended the call's log: the
	// producer must stop the call.
	ErrFenced = errors.New("stream: the call's log was ended by another writer")

	// ErrInvalidCallID is returned by a [Store]'s Create for an id that
	// is not a ValidCallID.
	ErrInvalidCallID = errors.New("stream: invalid call id")

	// ErrNotFound is returned by a [Store] for a call it does not hold:
	// unknown, or past its retention.
	ErrNotFound = errors.New("stream: no such call")

	// ErrDuplicateCall is returned by [Registry.Add] for a call id that is
	// already registered.
	ErrDuplicateCall = errors.New("stream: duplicate call id")

	// ErrInvalidConfig is wrapped by the errors of constructors given a
	// configuration they cannot use.
	ErrInvalidConfig = errors.New("stream: invalid config")
)
