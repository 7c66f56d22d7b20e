// Package same tells whether two option values (an observer, a store) are
// the same, for the policies' in-place reconfiguration.
package same

import (
	"reflect"
	"unsafe"
)

// Value reports whether a and b are the same value of an interface (an
// Observer, a Store): equal by == when their dynamic type is comparable; for
// a function, such as a whizbang.ObserverFunc, the very same function value
// (the same closure or the same top-level function; == would panic); any
// other value that cannot be compared counts as different.
func Value(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	switch {
	case va.Type() != vb.Type():
		return false
	case va.Comparable():
		return a == b
	case va.Kind() == reflect.Func:
		return funcWord(va) == funcWord(vb)
	}
	return false
}

// funcWord returns the word a function value is made of: a pointer to the
// closure it calls, shared by every copy of the value. (Value.Pointer
// gives the code pointer instead, the same for every closure of one
// function literal.)
func funcWord(v reflect.Value) unsafe.Pointer {
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	return *(*unsafe.Pointer)(p.UnsafePointer())
}
