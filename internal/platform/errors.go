package platform

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. The HTTP API maps each one to a status
// in one table, so a code means the same thing wherever it appears.
const (
	ECONFLICT     = "conflict"     // the resource already exists (duplicate handle)
	EINVALID      = "invalid"      // the request is well-formed but a value is wrong
	ENOTFOUND     = "not_found"    // no such resource, or not visible to the caller
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	ERATELIMITED  = "rate_limited" // too many attempts
	EINTERNAL     = "internal"     // a bug or an infrastructure failure
	EDISKFULL     = "disk_full"    // the server's storage is full: nothing was applied, retry later
)

// ErrDiskFull is the one error of a write refused because the server's
// storage is full: SQLite's SQLITE_FULL, PostgreSQL's disk_full, ENOSPC
// from the event log's files, or the free-space guard refusing a write
// before it starts. Wrap it; the HTTP API answers 503 with Retry-After.
var ErrDiskFull = &Error{Code: EDISKFULL, Message: "the server's storage is full; nothing of this request was applied; retry later"}

// Error is a domain error with a machine-readable code and a message that is
// safe to show to the caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it wraps an *Error, and EINTERNAL
// otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err if it wraps an *Error;
// internal errors get a generic message so no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
