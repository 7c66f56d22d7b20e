// Command whizbang runs the Whizbang showcase and tools.
//
//	whizbang demo [flags]   a flaky downstream behind a full wrap, live summary
//	whizbang help           this text
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "whizbang:", err)
		os.Exit(2)
	}
}

const usage = `usage: whizbang <command> [flags]

commands:
  demo    call a simulated flaky downstream through
          fallback → retry → circuit breaker → bulkhead → rate limit → timeout
          and print a live summary every second (Ctrl-C stops it)
  help    show this text

Run "whizbang <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "demo":
		return demoCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
