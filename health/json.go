package health

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// MarshalJSON encodes r as the /health document:
//
//	{"status":"Degraded","policies":{"PaymentAPI":{"status":"Degraded","state":"HalfOpen","failureRate":0.4}}}
//
// Policies appear in name order, and each policy's "status" comes first,
// then its data in the order of Result.Data. A status other than the three
// is written as "Unhealthy"; a value encoding/json cannot encode (a NaN, a
// channel) is written as null.
func (r Report) MarshalJSON() ([]byte, error) {
	names := make([]string, 0, len(r.Policies))
	for n := range r.Policies {
		names = append(names, n)
	}
	slices.Sort(names)
	b := make([]byte, 0, 64+64*len(names))
	b = append(b, `{"status":"`...)
	b = append(b, r.Status.orUnhealthy().String()...)
	b = append(b, `","policies":{`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, n)
		b = append(b, ':')
		b = r.Policies[n].appendJSON(b)
	}
	return append(b, "}}"...), nil
}

// MarshalJSON encodes r as one policy's object of the /health document.
func (r Result) MarshalJSON() ([]byte, error) { return r.appendJSON(nil), nil }

func (r Result) appendJSON(b []byte) []byte {
	b = append(b, `{"status":"`...)
	b = append(b, r.Status.orUnhealthy().String()...)
	b = append(b, '"')
	for _, f := range r.Data {
		if f.Key == "status" {
			continue
		}
		b = append(b, ',')
		b = appendString(b, f.Key)
		b = append(b, ':')
		b = appendValue(b, f.Value)
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(b, "null"...)
		}
		if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
			break // encoding/json's exponent form
		}
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case string:
		return appendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case nil:
		return append(b, "null"...)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}
