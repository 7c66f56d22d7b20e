package health_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The package starts no goroutine; the tests' own must all end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
