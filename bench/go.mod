module github.com/whizbang-go/whizbang/bench

go 1.26.0

// The benchmarks always measure the whizbang next to this directory.
replace github.com/whizbang-go/whizbang => ../

// The peers. github.com/cep21/circuit, a peer worth comparing, is left out:
// the module proxy these benchmarks run against does not serve it.
// golang.org/x/time and golang.org/x/sync at these versions need go 1.26.
require (
	github.com/eapache/go-resiliency v1.7.0
	github.com/failsafe-go/failsafe-go v0.9.8
	github.com/sony/gobreaker/v2 v2.4.0
	github.com/whizbang-go/whizbang v0.0.0-00010101000000-000000000000
	golang.org/x/sync v0.25.0
	golang.org/x/time v0.16.0
)

require github.com/bits-and-blooms/bitset v1.24.4 // indirect
