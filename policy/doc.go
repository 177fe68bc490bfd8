// Package policy is Weft's central zero-trust policy, written in Cedar
// (github.com/cedar-policy/cedar-go): the flat Request the gate asks about, the general
// Query an AuthZEN enforcement point asks, the Decision (allow, deny or step_up) with
// its reasons, and the Engine that answers both on every request.
//
// The pieces, in the order a policy change travels:
//
//   - WeftSchema (weft.cedarschema) says what a policy can name: principals User,
//     MachineIdentity and Client, Group, resources Application and Route, the actions
//     login, token, introspect, access and api, and the context (risk, ip, country,
//     network, device, acr, amr, time, client, session, scopes). A version may carry a
//     schema of its own that extends it (administrators' actions and entity types,
//     optional attributes).
//   - Compile parses a Version, validates every policy against the schema with
//     cedar-go's strict validator (x/exp/schema/validate) and reads Weft's
//     annotations (@id, @reason, @message, @step_up). Problems come back as
//     ValidationErrors with line and column: syntax errors where cedar-go places them,
//     schema errors at the start of the policy they are in.
//   - Compiled.RunTests asks a version's TestCases; Service.Apply refuses a version
//     that fails one, saves the rest as the next version in the Store
//     (policy/sqlstore) and installs it in the local Engine. Other nodes call
//     Service.Sync when the bus announces a version.
//   - Engine holds the compiled set in force behind an atomic pointer: Decide and
//     Evaluate take no lock and touch no storage.
//
// Outcomes: a plain forbid that matches denies; otherwise a permit must match, or the
// answer is deny (ReasonNoPermit); then a matching forbid annotated @step_up("acr")
// turns the allow into step_up with that acr. A forbid that fails to evaluate denies
// (ReasonPolicyError), where Cedar alone would skip it. Reasons and PolicyIDs come from
// the determining policies. README.md in this directory documents the schema, the
// annotations and the default policy set for administrators.
//
// The package is pure (no HTTP, no storage) and imports no other Weft domain.
package policy
