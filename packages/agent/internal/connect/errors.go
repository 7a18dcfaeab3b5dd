// Package connect implements the server side of the Connect RPC protocol with
// the JSON codec over HTTP/1.1: unary calls, server-streaming envelopes and the
// error vocabulary shared by both.
package connect

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is a Connect error code, written on the wire as its snake_case name.
type Code string

// The Connect error codes (the same set as gRPC's status codes).
const (
	Canceled           Code = "canceled"
	Unknown            Code = "unknown"
	InvalidArgument    Code = "invalid_argument"
	DeadlineExceeded   Code = "deadline_exceeded"
	NotFound           Code = "not_found"
	AlreadyExists      Code = "already_exists"
	PermissionDenied   Code = "permission_denied"
	ResourceExhausted  Code = "resource_exhausted"
	FailedPrecondition Code = "failed_precondition"
	Aborted            Code = "aborted"
	OutOfRange         Code = "out_of_range"
	Unimplemented      Code = "unimplemented"
	Internal           Code = "internal"
	Unavailable        Code = "unavailable"
	DataLoss           Code = "data_loss"
	Unauthenticated    Code = "unauthenticated"
)

// httpStatus is the code → HTTP status table of the Connect protocol
// specification (used for unary error responses).
var httpStatus = map[Code]int{
	Canceled:           499,
	Unknown:            http.StatusInternalServerError,
	InvalidArgument:    http.StatusBadRequest,
	DeadlineExceeded:   http.StatusGatewayTimeout,
	NotFound:           http.StatusNotFound,
	AlreadyExists:      http.StatusConflict,
	PermissionDenied:   http.StatusForbidden,
	ResourceExhausted:  http.StatusTooManyRequests,
	FailedPrecondition: http.StatusBadRequest,
	Aborted:            http.StatusConflict,
	OutOfRange:         http.StatusBadRequest,
	Unimplemented:      http.StatusNotImplemented,
	Internal:           http.StatusInternalServerError,
	Unavailable:        http.StatusServiceUnavailable,
	DataLoss:           http.StatusInternalServerError,
	Unauthenticated:    http.StatusUnauthorized,
}

// HTTPStatus returns the HTTP status a unary error with this code is sent with.
func HTTPStatus(c Code) int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an RPC error carrying a Connect code.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...interface{}) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError converts any error to an *Error; errors without a code become internal.
func AsError(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Code: Internal, Message: err.Error()}
}

// wireError is the JSON shape of an error in unary bodies and end-stream messages.
type wireError struct {
	Code    Code   `json:"code"`
	Message string `json:"message,omitempty"`
}

// MarshalError returns the JSON body for err: {"code":"…","message":"…"}.
func MarshalError(err error) []byte {
	ce := AsError(err)
	b, _ := json.Marshal(wireError{Code: ce.Code, Message: ce.Message})
	return b
}

// WriteError writes err as a unary Connect error response.
func WriteError(w http.ResponseWriter, err error) {
	ce := AsError(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(HTTPStatus(ce.Code))
	_, _ = w.Write(MarshalError(ce))
}
