package metal

import (
	"errors"
	"fmt"
)

// The kinds of error a backend reports. Match them with errors.Is.
var (
	// ErrNotFound: the machine, IP or network does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request collides with an existing object, for example a
	// static IP that is already allocated to someone else.
	ErrConflict = errors.New("conflict")
	// ErrNoCapacity: no free server (or address) matches the request.
	ErrNoCapacity = errors.New("no capacity")
	// ErrUnavailable: the backend could not be reached or answered that it is
	// unavailable; the request may be retried and nothing was changed by it.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrUnsupported: the backend has no such API (for example networks on
	// metal-operator).
	ErrUnsupported = errors.New("not supported by this backend")
	// ErrInvalid: the request itself is invalid; retrying it will not help.
	ErrInvalid = errors.New("invalid request")
)

// Error is the error type returned by backends. Kind is one of the Err*
// sentinels, Op the operation ("allocate machine"), Object what it was about.
type Error struct {
	Kind   error
	Op     string
	Object string
	Detail string
	Err    error
}

// Errorf returns an *Error of the given kind for op and object, with a detail
// message built from format and args.
func Errorf(kind error, op, object, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Object: object, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given kind for op and object around err.
func Wrap(kind error, op, object string, err error) *Error {
	return &Error{Kind: kind, Op: op, Object: object, Err: err}
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Object != "" {
		msg += " " + e.Object
	}
	msg += ": " + e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports whether err is, or wraps, ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is, or wraps, ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsNoCapacity reports whether err is, or wraps, ErrNoCapacity.
func IsNoCapacity(err error) bool { return errors.Is(err, ErrNoCapacity) }

// IsUnavailable reports whether err is, or wraps, ErrUnavailable.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
