// Package policy is Weft's central zero-trust policy: the flat Request a decision is
// made on, the Decision with its reasons, and the Decider every request consults
// (access/gate calls it on every introspection and bearer-protected call). Today the
// only Decider is AllowAll; the Cedar engine, its versions, validation and simulation
// come with the adaptive-access issue and implement the same interface. The package is
// pure (no HTTP, no storage) and imports no other Weft domain.
package policy
