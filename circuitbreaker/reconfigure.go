package circuitbreaker

import (
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/internal/same"
)

// atomicDuration is a time.Duration read and written atomically.
type atomicDuration struct{ v atomic.Int64 }

func (d *atomicDuration) Load() time.Duration   { return time.Duration(d.v.Load()) }
func (d *atomicDuration) Store(x time.Duration) { d.v.Store(int64(x)) }

// Reconfigure changes, in place and while calls run, the options that decide
// when the circuit trips and how it recovers: FailureThreshold,
// MinimumThroughput, BreakDuration, HalfOpenProbes and ShouldHandle. The
// state, its generation and the counts are kept: raising a threshold keeps
// the failures counted so far, and lowering it below them trips the circuit
// on the next failure. A break under way keeps its end; the new
// BreakDuration applies from the next trip.
//
// o is validated as New validates it, and the other fields (Key, Observer,
// Mode, SamplingDuration, FleetFailureThreshold, Store, StateKey, StoreTimeout, PollInterval,
// StoreBackoff) must be what the breaker already runs with (a zero field
// meaning its default, as in New). On an error, an *whizbang.OptionError
// naming the first bad field, nothing changes. Observer and Store are
// unchanged when they hold the same value: equal by == when comparable, the
// very same function value for a function (a [whizbang.ObserverFunc] passed
// again, or taken from [Breaker.Options]). Reconfigure takes the
// breaker's mutex; the success path is not slowed. In Ratio mode a window
// short of the new MinimumThroughput whose failures reach the new threshold
// of it trips on the success that brings it there, as in New.
func (b *Breaker) Reconfigure(o Options) error {
	if !b.made() {
		return ErrNotInitialized
	}
	probe := o
	probe.Store = nil // validate without starting a propagation goroutine
	nb, err := New(probe)
	if err != nil {
		return err
	}
	bad := func(field string, v any) error {
		return &whizbang.OptionError{Kind: Kind, Field: field, Value: v, Reason: "cannot be changed in place"}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, next := b.opts, nb.opts
	stateKey := o.StateKey
	if stateKey == "" && o.Store != nil {
		stateKey = o.Key
	}
	switch {
	case o.Key != cur.Key:
		return bad("Key", o.Key)
	case !same.Value(o.Observer, cur.Observer):
		return bad("Observer", o.Observer)
	case next.Mode != cur.Mode:
		return bad("Mode", o.Mode)
	case next.SamplingDuration != cur.SamplingDuration:
		return bad("SamplingDuration", o.SamplingDuration)
	case next.FleetFailureThreshold != cur.FleetFailureThreshold:
		return bad("FleetFailureThreshold", o.FleetFailureThreshold)
	case !same.Value(o.Store, cur.Store):
		return bad("Store", o.Store)
	case o.Store != nil && stateKey != cur.StateKey:
		return bad("StateKey", o.StateKey)
	case o.Store != nil && (next.StoreTimeout != cur.StoreTimeout || next.PollInterval != cur.PollInterval || next.StoreBackoff != cur.StoreBackoff):
		return bad("StoreTimeout", o.StoreTimeout)
	}
	b.consecLimit, b.ratioLimit, b.minThroughput = nb.consecLimit, nb.ratioLimit, nb.minThroughput
	b.rearmLocked()
	b.breakDuration.Store(nb.breakDuration.Load())
	b.maxProbes.Store(nb.maxProbes.Load())
	b.shouldHandle.Store(nb.shouldHandle.Load())
	cur.FailureThreshold, cur.MinimumThroughput = next.FailureThreshold, next.MinimumThroughput
	cur.BreakDuration, cur.HalfOpenProbes, cur.ShouldHandle = next.BreakDuration, next.HalfOpenProbes, next.ShouldHandle
	b.opts = cur
	return nil
}
