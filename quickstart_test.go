package whizbang_test

import (
	"bytes"
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// inventoryDown is the downstream of the quick start, failing every call.
type inventoryDown struct{ calls int }

var errInventoryDown = errors.New("inventory: connection refused")

func (s *inventoryDown) Stock(ctx context.Context, sku string) (int, error) {
	s.calls++
	return 0, errInventoryDown
}

// quickStart runs the code of the README's "Quick start" section: the lines
// between the two markers are that section's code, character for character
// once this function's indentation is taken off, and
// TestReadmeQuickStartIsTheCodeTested fails when they differ. It returns
// what the README's code leaves in its variables.
func quickStart(ctx context.Context, inventory *inventoryDown, sku string) (*circuitbreaker.Breaker, *whizbang.PolicyWrap, int, error) {
	// README quick start: begin
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{
		Key:              "inventory",
		FailureThreshold: 5,                // 5 consecutive failures open the circuit
		BreakDuration:    30 * time.Second, // for 30 s, then one probe is let through
	})
	retries := retry.MustNew(retry.Options{
		MaxRetries: 3,
		Backoff:    retry.Exponential,
		Delay:      100 * time.Millisecond,
	})
	perTry := timeout.MustNew(timeout.Options{Duration: 2 * time.Second})
	orDefault := fallback.MustNew(fallback.Options[int]{Value: 0})

	// fallback(retry(breaker(timeout(call))))
	policy := whizbang.Wrap(orDefault, retries, breaker, perTry)

	stock, err := whizbang.Execute(ctx, policy, func(ctx context.Context) (int, error) {
		return inventory.Stock(ctx, sku)
	})
	// README quick start: end
	return breaker, policy, stock, err
}

// TestReadmeQuickStartFailsFastOnceTheCircuitOpens runs the README's quick
// start, as written, against a downstream that always fails: once the
// circuit is open, every call is answered by the fallback at once, in no
// policy time (the bubble's clock moves only when something waits).
func TestReadmeQuickStartFailsFastOnceTheCircuitOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		inventory := &inventoryDown{}
		const sku = "sku-42"
		// As the README says: the first call makes its four attempts, the
		// second opens the circuit with the fifth failure in a row.
		start := time.Now()
		breaker, policy, stock, err := quickStart(ctx, inventory, sku)
		if stock != 0 || err != nil || inventory.calls != 4 || time.Since(start) != 700*time.Millisecond {
			t.Fatalf("first call: got %v, %v after %d calls downstream in %v; want the fallback's 0, nil after 4 in 700ms", stock, err, inventory.calls, time.Since(start))
		}
		call := func() (int, error) {
			return whizbang.Execute(ctx, policy, func(ctx context.Context) (int, error) {
				return inventory.Stock(ctx, sku)
			})
		}
		start = time.Now()
		stock, err = call()
		if stock != 0 || err != nil || inventory.calls != 5 || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("second call: got %v, %v after %d calls downstream in all, in %v; want the fallback's 0, nil after 5, in 100ms", stock, err, inventory.calls, time.Since(start))
		}
		if breaker.State() != whizbang.Open {
			t.Fatalf("circuit %v after five failures in a row, want open", breaker.State())
		}
		downstream := inventory.calls
		for i := range 100 {
			start := time.Now()
			stock, err := call()
			took := time.Since(start)
			if stock != 0 || err != nil {
				t.Fatalf("call %d after the circuit opened: got %v, %v; want the fallback's 0, nil", i+1, stock, err)
			}
			if took >= 100*time.Microsecond {
				t.Fatalf("call %d after the circuit opened took %v of policy time; want well under 1ms", i+1, took)
			}
		}
		if inventory.calls != downstream {
			t.Fatalf("%d calls reached the downstream while the circuit was open", inventory.calls-downstream)
		}
		if breaker.State() != whizbang.Open {
			t.Fatalf("circuit %v, want still open", breaker.State())
		}
	})
}

// TestReadmeQuickStartIsTheCodeTested checks that the first Go block of the
// README's "Quick start" section is the code quickStart runs: the same
// imports (which this file imports too) and the same statements.
func TestReadmeQuickStartIsTheCodeTested(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(readme, []byte("\n## Quick start\n"))
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	_, block, ok := bytes.Cut(section, []byte("```go\n"))
	if !ok {
		t.Fatal("the Quick start section has no ```go block")
	}
	block, _, ok = bytes.Cut(block, []byte("```"))
	if !ok {
		t.Fatal("the Quick start's ```go block is not closed")
	}
	imports, body, ok := strings.Cut(string(block), "\n)\n")
	if !ok || !strings.HasPrefix(imports, "import (\n") {
		t.Fatalf("the Quick start block does not open with an import block:\n%s", block)
	}

	src, err := os.ReadFile("quickstart_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "quickstart_test.go", src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for _, spec := range f.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		ours[path] = true
	}
	for _, line := range strings.Split(strings.TrimPrefix(imports, "import (\n"), "\n") {
		path, err := strconv.Unquote(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("README import line %q: %v", line, err)
		}
		if !ours[path] {
			t.Errorf("the README's quick start imports %s; quickstart_test.go does not", path)
		}
	}

	_, tested, ok := strings.Cut(string(src), "\t// README quick start: begin\n")
	if ok {
		tested, _, ok = strings.Cut(tested, "\t// README quick start: end\n")
	}
	if !ok {
		t.Fatal("quickstart_test.go lost its README markers")
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSuffix(tested, "\n"), "\n") {
		lines = append(lines, strings.TrimPrefix(line, "\t"))
	}
	want := strings.TrimSpace(body)
	if got := strings.TrimSpace(strings.Join(lines, "\n")); got != want {
		t.Errorf("README.md's quick start is not the code quickStart runs.\nREADME:\n%s\n\nquickstart_test.go:\n%s", want, got)
	}
}
