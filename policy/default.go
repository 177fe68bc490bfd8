package policy

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// DefaultPolicies is the built-in policy set (version 0), documented in its comments:
// deny critical and high risk, step-up (re-authentication) for a person at medium risk
// to a sensitive application or route, deny a machine or client there, allow the rest.
//
//go:embed default.cedar
var DefaultPolicies string

//go:embed default_tests.json
var defaultTests []byte

// Default is the built-in version 0: DefaultPolicies on WeftSchema with its test
// cases.
func Default() Version {
	var tests []TestCase
	if err := json.Unmarshal(defaultTests, &tests); err != nil { // tested; a build defect
		panic(fmt.Sprintf("policy: default_tests.json: %v", err))
	}
	return Version{Number: 0, Policies: DefaultPolicies, Tests: tests, Author: "weft", Comment: "built-in default policy set"}
}
