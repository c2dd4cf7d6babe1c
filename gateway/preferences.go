package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"switchboard/routing"
)

// The provider object is decoded member by member, so that an error names
// the member at fault (provider.order[1], provider.max_price.prompt), and
// an unknown member is refused: OpenRouter's schema for the object has
// additionalProperties: false, and a misspelt preference ("sortt") that
// was ignored would route the request as the caller did not ask.

// prefMember is one member of the provider object: where it goes in
// routing.Preferences and, when its value may be an object (sort,
// max_price, the cutoffs), the members that object may have.
type prefMember struct {
	index []int
	typ   reflect.Type
	keys  []string
}

// prefMembers and prefKeys are routing.Preferences' JSON members, read
// from its tags so that a preference added there is taken here at once.
var prefMembers, prefKeys = membersOf(reflect.TypeFor[routing.Preferences]())

func membersOf(t reflect.Type) (map[string]prefMember, []string) {
	members := map[string]prefMember{}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		m := prefMember{index: f.Index, typ: f.Type}
		if f.Type.Kind() == reflect.Struct {
			_, m.keys = membersOf(f.Type)
		}
		members[name] = m
		keys = append(keys, name)
	}
	return members, keys
}

// jsonName is the member name encoding/json gives a struct field, "" for
// none.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return f.Name
	}
	return name
}

// decodeProvider reads the provider object strictly and checks it. A null
// member is absent, as a null top-level field is.
func decodeProvider(raw json.RawMessage) (routing.Preferences, *apiError) {
	var p routing.Preferences
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return p, invalid("provider", fmt.Sprintf(`provider must be an object such as {"sort": "latency"}, not %s`, describe(raw)))
	}
	v := reflect.ValueOf(&p).Elem()
	for _, k := range sortedKeys(members) {
		param := member("provider", k)
		m, ok := prefMembers[k]
		if !ok {
			return p, unknownMember("provider", k, prefKeys)
		}
		val := bytes.TrimSpace(members[k])
		if string(val) == "null" {
			continue
		}
		if e := decodeMember(param, k, val, m, v.FieldByIndex(m.index).Addr().Interface()); e != nil {
			return p, e
		}
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"order", p.Order}, {"only", p.Only}, {"ignore", p.Ignore}} {
		for i, n := range l.list {
			if e := checkName(fmt.Sprintf("provider.%s[%d]", l.name, i), n); e != nil {
				return p, e
			}
		}
	}
	if err := p.Check(); err != nil {
		var re *routing.Error
		errors.As(err, &re)
		return p, invalid(re.Param, re.Message)
	}
	return p, nil
}

// decodeMember decodes the member key of the provider object into dst.
// An object value has its own members checked, and decoded one by one
// first, so that an error names the one at fault.
func decodeMember(param, key string, val json.RawMessage, m prefMember, dst any) *apiError {
	if m.keys != nil && val[0] == '{' {
		var sub map[string]json.RawMessage
		if json.Unmarshal(val, &sub) == nil {
			for _, sk := range sortedKeys(sub) {
				if !slices.Contains(m.keys, sk) {
					return unknownMember(param, sk, m.keys)
				}
				one, _ := json.Marshal(map[string]json.RawMessage{sk: sub[sk]}) // valid: it was parsed
				if err := json.Unmarshal(one, reflect.New(m.typ).Interface()); err != nil {
					return memberError(member(param, sk), key, sub[sk], m.typ, err)
				}
			}
		}
	}
	if err := json.Unmarshal(val, dst); err != nil {
		return memberError(param, key, val, m.typ, err)
	}
	return nil
}

// memberError says what is wrong with the value of param, a member (or a
// member's member) of the provider object key of type typ.
func memberError(param, key string, val json.RawMessage, typ reflect.Type, err error) *apiError {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		// The type's own check (sort, max_price, the cutoffs) says what is
		// wrong, naming the member as the client wrote it.
		msg := err.Error()
		if strings.HasPrefix(msg, key) {
			return invalid(param, "provider."+msg)
		}
		return invalid(param, param+": "+msg)
	}
	if typ.Kind() == reflect.Slice {
		var elems []json.RawMessage
		if json.Unmarshal(val, &elems) == nil {
			for i, el := range elems {
				if json.Unmarshal(el, reflect.New(typ.Elem()).Interface()) != nil {
					at := fmt.Sprintf("%s[%d]", param, i)
					return invalid(at, fmt.Sprintf("%s must be %s, not %s", at, jsonKind(typ.Elem().String()), describe(el)))
				}
			}
		}
	}
	return invalid(param, fmt.Sprintf("%s must be %s, not %s", param, jsonKind(typ.String()), echo(te.Value)))
}

// unknownMember refuses key, a member the object at parent does not have,
// naming the nearest one if it looks like a slip, and all of them.
func unknownMember(parent, key string, known []string) *apiError {
	param := member(parent, key)
	msg := fmt.Sprintf("%s is not a field of %s.", param, parent)
	near := ""
	if len(key) <= routing.EchoLimit { // a slip is short; the distance to a huge key costs time for nothing
		near = routing.Nearest(key, known)
	}
	if near != "" {
		msg = fmt.Sprintf("%s is not a field of %s; did you mean %q?", param, parent, near)
	}
	return invalid(param, msg+" Its fields are "+strings.Join(known, ", ")+".")
}

// describe names the kind of a JSON value, for "must be X, not Y".
func describe(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
