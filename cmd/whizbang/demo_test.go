package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestDemoShowsTheBreakerOpeningAndRecovering(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 21*time.Second)
		defer cancel()
		if err := demo(ctx, demoOptions{rate: 200, workers: 16, seed: 1}, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var summaries []string
		for _, l := range lines {
			if strings.Contains(l, "calls=") {
				summaries = append(summaries, l)
			}
		}
		if len(summaries) < 20 {
			t.Fatalf("got %d summary lines in 21 s, want one a second:\n%s", len(summaries), out.String())
		}
		find := func(phase, want string) bool {
			for _, l := range summaries {
				if strings.Contains(l, " "+phase+" ") && strings.Contains(l, want) {
					return true
				}
			}
			return false
		}
		if !find("failing", "breaker=open") {
			t.Errorf("the breaker never showed open while the downstream was failing:\n%s", out.String())
		}
		if !strings.Contains(summaries[len(summaries)-2], "breaker=closed") {
			t.Errorf("the breaker did not close again once the downstream recovered:\n%s", out.String())
		}
		final := lines[len(lines)-1]
		if !strings.HasPrefix(final, "final:") || strings.Contains(final, "ok=0 ") {
			t.Errorf("final line = %q, want a final summary with successes", final)
		}
	})
}

func TestRunRejectsUnknownCommandsAndBadFlags(t *testing.T) {
	var out, errs bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"nope"}, &out, &errs); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: err = %v", err)
	}
	if err := run(ctx, nil, &out, &errs); err == nil {
		t.Error("no command: want an error")
	}
	if err := run(ctx, []string{"demo", "-rate", "0"}, &out, &errs); err == nil {
		t.Error("-rate 0: want an error")
	}
	if err := run(ctx, []string{"help"}, &out, &errs); err != nil || !strings.Contains(out.String(), "demo") {
		t.Errorf("help: err = %v, out = %q", err, out.String())
	}
}
