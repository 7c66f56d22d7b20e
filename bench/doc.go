// Package bench compares Whizbang's policies with the libraries Go users would
// pick instead, in the same run, on the same machine.
//
// It is a module of its own so that the root module never depends on the
// peers. The benchmarks live in the test files; run them all, and print the
// comparison tables, with
//
//	./run            # COUNT=5 runs of every benchmark
//	COUNT=3 ./run    # quicker
//
// Every benchmark is named Benchmark<Workload>/<library>/<seq|par> and
// protects the same function, one that returns (42, nil) at once, so what
// is measured is each library's overhead on the success path.
package bench
