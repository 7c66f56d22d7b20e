package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/whizbang-go/whizbang"
)

// KindTracing is the Kind of a [Tracing] policy.
const KindTracing = "tracing"

// TracingOptions configures a [Tracing] policy.
type TracingOptions struct {
	// Key names the policy; it is the span's policy attribute when set.
	// Default: empty, and the span's policy attribute is the key of the
	// wrap the call runs through (with an execution attached to the
	// context).
	Key string
	// Observer receives the policy's events. Default: nil.
	Observer whizbang.Observer
	// Tracer makes the spans. Required.
	Tracer trace.Tracer
	// SpanName names the spans. Default: "whizbang.execute".
	SpanName string
}

// Tracing is a policy that runs each call in a span: off unless you put it
// in a wrap. Outermost, it makes one span per call; inside a retry, one per
// attempt. The span is a child of the span in the caller's context, and
// the call runs with the new span in its context. It carries the
// attributes whizbang.policy (the policy key), whizbang.attempt (the
// attempt number, with an execution attached and a retry outside) and
// whizbang.outcome (successful or failed), and the call's error.
//
// It is an [whizbang.Interceptor], which costs an allocation per call, and
// the tracer's own costs; metrics do not need it.
type Tracing struct {
	whizbang.Info
	tracer trace.Tracer
	name   string
}

// NewTracing returns a tracing policy; it fails when Tracer is nil.
func NewTracing(o TracingOptions) (*Tracing, error) {
	if o.Tracer == nil {
		return nil, &whizbang.OptionError{Kind: KindTracing, Field: "Tracer", Value: nil, Reason: "is required"}
	}
	if o.SpanName == "" {
		o.SpanName = "whizbang.execute"
	}
	return &Tracing{Info: whizbang.Info{Key: o.Key, Kind: KindTracing, Observer: o.Observer}, tracer: o.Tracer, name: o.SpanName}, nil
}

// MustNewTracing is like [NewTracing] but panics on an error.
func MustNewTracing(o TracingOptions) *Tracing {
	t, err := NewTracing(o)
	if err != nil {
		panic(err)
	}
	return t
}

// Wrap returns a wrap running t around inner.
func (t *Tracing) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{t}, inner...)...)
}

// Intercept implements [whizbang.Interceptor].
func (t *Tracing) Intercept(ctx context.Context, ex *whizbang.Execution, next func(context.Context) error) error {
	key := t.Key
	if key == "" && ex != nil {
		key = ex.PolicyWrapKey()
	}
	ctx, span := t.tracer.Start(ctx, t.name, trace.WithAttributes(attribute.String("whizbang.policy", key)))
	defer span.End()
	err := next(ctx)
	if ex != nil {
		if a := ex.Attempt(); a > 0 {
			span.SetAttributes(attribute.Int("whizbang.attempt", a))
		}
		if op := ex.OperationKey; op != "" {
			span.SetAttributes(attribute.String("whizbang.operation", op))
		}
	}
	if err != nil {
		span.SetAttributes(attribute.String("whizbang.outcome", "failed"))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.String("whizbang.outcome", "successful"))
	}
	return err
}
