// Package wirejsontest holds wirejson to encoding/json, for the fuzz
// targets of the packages whose types it decodes.
package wirejsontest

import (
	"encoding/json"
	"fmt"
	"reflect"

	"switchboard/wirejson"
)

// Differs says how wirejson.Unmarshal of data into a T differs from
// json.Unmarshal's: in whether it fails, in the error's text, or in the
// value. It returns "" when they agree.
func Differs[T any](data []byte) string {
	var got, want T
	err := wirejson.Unmarshal(data, &got)
	wantErr := json.Unmarshal(data, &want)
	switch {
	case (err == nil) != (wantErr == nil):
		return fmt.Sprintf("%q into %T: error %v, json.Unmarshal's %v", data, got, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		return fmt.Sprintf("%q into %T: error %q, json.Unmarshal's %q", data, got, err, wantErr)
	case !reflect.DeepEqual(got, want):
		return fmt.Sprintf("%q into %T: %+v, json.Unmarshal's %+v", data, got, got, want)
	}
	return ""
}
