// Package authzen serves the OpenID AuthZEN Authorization API 1.0 (final specification,
// 11 January 2026): Weft as the policy decision point (PDP) that any policy enforcement
// point (PEP) can ask. It is transport only: a request becomes a policy.Query, the
// policy.Evaluator (the Cedar engine) decides, and its policy.Decision becomes an
// AuthZEN decision. Section numbers below are those of the final text.
//
// Endpoints, at the default paths of section 10.1 relative to the issuer:
//
//	POST /access/v1/evaluation               Access Evaluation API (section 6)
//	POST /access/v1/evaluations              Access Evaluations API (section 7)
//	POST /access/v1/search/action            Action Search API (section 8.6), only with Handler.Actions
//	POST /access/v1/search/subject           not offered (404), see below
//	POST /access/v1/search/resource          not offered (404), see below
//	GET  /.well-known/authzen-configuration  PDP metadata (section 9)
//
// Callers. Section 11.2 says the PDP SHOULD authenticate the PEP and section 2
// recommends OAuth 2.0: an enforcement point is an OAuth client presenting an access
// token of its own (client credentials; a machine identity's token also does) with the
// scope weft:authzen, checked by access/gate like every bearer API. No token is 401 with
// a WWW-Authenticate challenge (section 11.3); a token without the scope, a person's
// token (a person could otherwise probe the policy about anyone, section 11.2) or a
// call the central policy refuses is 403.
//
// Mapping. Subject and resource {type, id, properties} become policy.Entity, action
// {name, properties} becomes Query.Action and Query.ActionProperties, context becomes
// Query.Context. Properties and context reach the evaluator as encoding/json's generic
// values (string, float64, bool, nil, []any, map[string]any); the evaluator must not
// change them, since one default can be shared by every evaluation of a batch.
//
// Decisions (section 5.5). "decision" is true only when the policy allows without asking
// for step-up. The decision "context" (section 5.5.1) carries the policy's reasons:
//
//	"reasons":      [{"code": ..., "message": ...}], machine-readable, as in Weft's other answers
//	"reason_admin": {"403": "code: message; ..."}, for administrators (section 5.5.2, example 1)
//	"reason_user":  {"403": "first message"}, a sentence for the person
//	"acr_values":   the assurance to reach first, when the policy asks for step-up
//	                (section 5.5.2, example 3); the reason keys then use "401"
//
// Errors. Section 10.1.2: 400, 401, 403 and 500 with an error message; Weft's error
// handler renders them as RFC 9457 problem details (application/problem+json), whose
// "detail" is that message. A body that is not application/json is 415, one over the
// size limit 413 (section 11.7 asks for payload limits). Unknown members are ignored
// (section 10.1.1); a missing required member is 400 (sections 6.1 and 10.1.1). In a
// batch, an evaluation that is itself wrong, or that the evaluator could not decide,
// does not fail the others: it is answered {"decision": false, "context": {"error":
// {"status": 400 or 500, "message": ...}}} in its place (section 7.2.1).
//
// Search. A search answer claims that its results are what is permitted (section 8.1),
// so an empty or partial list would be false. Weft's policy is written over attributes
// the PEP sends; it holds no inventory of subjects or resources and cannot enumerate
// them, so subject and resource search are not offered: their metadata parameters are
// omitted, which section 9.1.1 makes the signal that the PDP will not answer them, and
// their paths answer 404 with a problem saying so. Actions, on the other hand, are few
// and known to the policy (its schema): given an ActionLister, action search evaluates
// every action for the subject, resource and context and returns the permitted ones,
// with pagination (section 8.2) when the PEP asks for a limit.
//
// X-Request-ID (section 10.1.3) is echoed unchanged on every answer of these routes,
// errors included.
package authzen
