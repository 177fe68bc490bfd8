// Package policy will hold Weft's central zero-trust policy: Cedar policies with
// versions, validation and simulation, and the decision point consulted on every
// request. It is pure (no HTTP, no storage) and imports no other Weft domain.
package policy
