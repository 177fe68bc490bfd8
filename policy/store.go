package policy

import (
	"context"
	"time"
)

// Version is one policy set as applied: its Cedar policies, the schema they were
// validated against, the test cases kept beside them, and who applied it and why.
// Versions are numbered 1, 2, ... in the order they were applied and never change;
// version 0 is the built-in default (Default), which is never stored.
type Version struct {
	Number   int64  `json:"version"`
	Policies string `json:"policies"`
	// Schema is a Cedar schema extending WeftSchema (administrators' actions, entity
	// types and optional attributes); empty means WeftSchema itself.
	Schema    string     `json:"schema,omitempty"`
	Tests     []TestCase `json:"tests,omitempty"`
	Author    string     `json:"author"`
	Comment   string     `json:"comment,omitempty"`
	CreatedAt time.Time  `json:"created_at,omitzero"`
}

// Store keeps the versions. It is read when a node starts or reloads, never while
// deciding.
type Store interface {
	// SaveVersion stores v as it is. Returns ErrConflict if v.Number is taken (another
	// apply won the race), ErrInvalid if v.Number is not positive.
	SaveVersion(ctx context.Context, v Version) error
	// CurrentVersion returns the version with the highest number. Returns ErrNotFound
	// when none was saved.
	CurrentVersion(ctx context.Context) (Version, error)
	// Version returns version n. Returns ErrNotFound if there is none.
	Version(ctx context.Context, n int64) (Version, error)
	// History returns up to limit versions numbered below before (all when before is
	// 0), newest first.
	History(ctx context.Context, before int64, limit int) ([]Version, error)
}
