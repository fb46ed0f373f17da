// Package errs gives every failure in the appliance a Kind that maps to
// exactly one HTTP status and a stable, documented API error code.
//
// Handlers never pick status codes: they return errors, and the API layer
// renders {"error":{"code":…,"message":…}} from the Kind and Code. The code
// may be more specific than the kind (weak_password is an Invalid error) but
// never contradicts it.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds. Each maps to one HTTP status and one default code.
const (
	Internal        Kind = iota // a bug or an I/O failure: 500 internal
	Invalid                     // bad input: 400 invalid_request
	Unauthenticated             // no or bad credentials: 401 unauthenticated
	Permission                  // authenticated but not allowed: 403 forbidden
	NotExist                    // 404 not_found
	Conflict                    // state conflict: 409 conflict
	TooLarge                    // 413 too_large
	Unsupported                 // wrong content type: 415 unsupported_media_type
	RateLimited                 // 429 rate_limited
	Sealed                      // node sealed: 503 sealed
	Unavailable                 // no leader, shutting down: 503 unavailable
	WrongMethod                 // the path exists, the method does not: 405 method_not_allowed
)

var kinds = map[Kind]struct {
	status int
	code   string
}{
	Internal:        {http.StatusInternalServerError, "internal"},
	Invalid:         {http.StatusBadRequest, "invalid_request"},
	Unauthenticated: {http.StatusUnauthorized, "unauthenticated"},
	Permission:      {http.StatusForbidden, "forbidden"},
	NotExist:        {http.StatusNotFound, "not_found"},
	Conflict:        {http.StatusConflict, "conflict"},
	TooLarge:        {http.StatusRequestEntityTooLarge, "too_large"},
	Unsupported:     {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	RateLimited:     {http.StatusTooManyRequests, "rate_limited"},
	Sealed:          {http.StatusServiceUnavailable, "sealed"},
	Unavailable:     {http.StatusServiceUnavailable, "unavailable"},
	WrongMethod:     {http.StatusMethodNotAllowed, "method_not_allowed"},
}

// Status returns the HTTP status of k.
func (k Kind) Status() int { return kinds[k].status }

// Code returns the default API error code of k.
func (k Kind) Code() string { return kinds[k].code }

// Error is an appliance error.
type Error struct {
	Op   string // what was being done, e.g. "unseal"
	Kind Kind
	Code string // stable API code; defaults to the kind's
	Msg  string // human message, safe to show the caller
	Err  error  // underlying cause, for logs only
	// Field names the input field the error is about, if one; the error
	// body carries it as "field".
	Field string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind k with a human message.
func E(op string, k Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: k, Code: k.Code(), Msg: fmt.Sprintf(format, args...)}
}

// Coded builds an error with a specific API code.
func Coded(op string, k Kind, code, format string, args ...any) error {
	return &Error{Op: op, Kind: k, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap attaches kind k and a message to cause.
func Wrap(op string, k Kind, cause error, format string, args ...any) error {
	return &Error{Op: op, Kind: k, Code: k.Code(), Msg: fmt.Sprintf(format, args...), Err: cause}
}

// OnField names the input field an *Error is about (the error body's
// "field") and returns it; any other error is returned as it is.
func OnField(err error, name string) error {
	if e, ok := err.(*Error); ok {
		e.Field = name
	}
	return err
}

// Of returns err's Error, or an Internal one wrapping it.
func Of(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Code == "" {
			e.Code = e.Kind.Code()
		}
		return e
	}
	return &Error{Kind: Internal, Code: Internal.Code(), Msg: "internal error", Err: err}
}
