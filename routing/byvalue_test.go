package routing

import (
	"reflect"
	"strings"
	"testing"
)

// An attemptResult goes by value (returned, sent from a race's goroutines
// on a channel), so nothing in it, by value, may be a strings.Builder:
// one written to points to itself, out of the compiler's sight, and a copy
// made off the stack of a goroutine that has ended points into freed
// memory, which stops the process when the garbage collector finds it.
func TestAttemptResultHoldsNoBuilder(t *testing.T) {
	builder := reflect.TypeFor[strings.Builder]()
	var walk func(ty reflect.Type, path string)
	walk = func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.Struct:
			if ty == builder {
				t.Errorf("%s is a strings.Builder held by value", path)
				return
			}
			for i := range ty.NumField() {
				f := ty.Field(i)
				walk(f.Type, path+"."+f.Name)
			}
		case reflect.Array:
			walk(ty.Elem(), path+"[]")
		}
	}
	walk(reflect.TypeFor[attemptResult](), "attemptResult")
}
