package identity

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by the directory and its stores. Callers compare with errors.Is;
// the HTTP and CLI edges map them to statuses and exit codes in one place each.
var (
	// ErrNotFound: the object does not exist. Authentication paths never surface it,
	// so that callers cannot enumerate accounts.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule would be broken (a username, group or machine
	// name that collides after normalisation).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule; the wrapping *ValidationError names the field.
	ErrInvalid = errors.New("invalid input")
	// ErrInvalidCredentials: authentication failed. It deliberately does not say
	// whether the account exists, is suspended, or the password was wrong.
	ErrInvalidCredentials = errors.New("invalid credentials")
)

// ValidationError names the field that broke a rule and why. It unwraps to ErrInvalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap lets errors.Is(err, ErrInvalid) hold for every validation failure.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }
