package throttle_test

import (
	"testing"

	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/access/throttle/throttletest"
)

func TestLocal_Conformance(t *testing.T) {
	throttletest.Run(t, func(*testing.T) throttle.Store { return throttle.NewLocal() })
}
