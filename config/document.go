package config

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkDocument refuses what decoding would otherwise drop without a word:
// a second YAML document after the first (yaml.v3 decodes the first only),
// and a null item in a list whose items are mappings, strings or numbers
// (yaml.v3 decodes it to a zero value that later checks skip, or drops it).
// v is what the document decodes into; its Go type tells free-form data
// (attributes, condition context), where null is a value, from the rest.
// It returns the first document's top node, or nil when there is none; a
// syntax error in the first document is left to the decoder to report.
func checkDocument(data []byte, v any, errs *List) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if dec.Decode(&doc) != nil {
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		errs.addYAMLError(err.Error())
	default:
		errs.Add(next.Line, "a second YAML document starts here: a file holds one document")
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	refuseNullItems(root, reflect.TypeOf(v), "", errs)
	return root
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// refuseNullItems walks n beside t, the Go type it decodes into, and
// refuses every null list item. t is nil below a type that decodes itself:
// every list item there must be a value.
func refuseNullItems(n *yaml.Node, t reflect.Type, path string, errs *List) {
	n = resolveAlias(n)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Kind() == reflect.Interface {
		return // free-form data: null is a value like any other
	}
	if t != nil && reflect.PointerTo(t).Implements(unmarshalerType) {
		t = nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
			if elem.Kind() == reflect.Interface {
				return
			}
		}
		for _, item := range n.Content {
			if it := resolveAlias(item); it.Kind == yaml.ScalarNode && it.Tag == "!!null" {
				msg := "an empty (null) list item; remove it or give it a value"
				if path != "" {
					msg = path + ": " + msg
				}
				errs.Add(item.Line, "%s", msg)
				continue
			}
			refuseNullItems(item, elem, path, errs)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			refuseNullItems(n.Content[i+1], valueType(t, k), p, errs)
		}
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// valueType is the Go type key's value decodes into inside t, nil when
// unknown (an unknown key is reported by the decoder).
func valueType(t reflect.Type, key string) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		return fieldType(t, key)
	}
	return nil
}

// fieldType finds the field yaml.v3 decodes key into, following its rules:
// the tag's name or the lower-cased field name, and inlined structs.
func fieldType(t reflect.Type, key string) reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Map {
				return ft.Elem()
			}
			if got := fieldType(ft, key); got != nil {
				return got
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f.Type
		}
	}
	return nil
}
