package circuitbreaker

import (
	"testing"

	"go.uber.org/goleak"
)

// The breaker starts no goroutine; the tests' own must all end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
