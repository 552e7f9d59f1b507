package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every validation error, so callers can tell a bad
// file from an unreadable one.
var ErrInvalid = errors.New("invalid")

// Error is one problem in one file, at one line (0 when the line is unknown).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line <= 0:
		return e.File + ": " + e.Msg
	default:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Errors is every problem found in a file, in line order. It is returned as
// one error so that a user fixes them all in one round.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// List collects errors for one file.
type List struct {
	File string
	errs Errors
}

// Add records a problem at a line.
func (l *List) Add(line int, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.File, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Append records a problem as it is, in whichever file it lies; one without
// a file is put in the list's.
func (l *List) Append(e *Error) {
	if e.File == "" {
		e = &Error{File: l.File, Line: e.Line, Msg: e.Msg}
	}
	l.errs = append(l.errs, e)
}

// addFrom records err, which another file's reading returned, at line:
// Errors keep their own file and lines, anything else is put at line with
// prefix before its text.
func (l *List) addFrom(line int, prefix string, err error) {
	var es Errors
	if errors.As(err, &es) {
		for _, e := range es {
			l.Append(e)
		}
		return
	}
	l.Add(line, "%s%v", prefix, err)
}

// Err returns the collected errors sorted by line, or nil.
func (l *List) Err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
	return l.errs
}

var (
	yamlLineRe     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownFieldRe = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotDecodeRe = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// addYAMLError turns yaml.v3's messages, which speak of Go types, into ones
// that speak of the file.
func (l *List) addYAMLError(msg string) {
	line := 0
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown key %q", m[1])
	} else if m := cannotDecodeRe.FindStringSubmatch(msg); m != nil {
		switch m[1] {
		case "seq", "map":
			// yaml.v3 quotes no value for collections.
			msg = fmt.Sprintf("expected %s, found %s", describeGoType(m[3]), describeYAMLTag(m[1]))
		default:
			msg = fmt.Sprintf("expected %s, found %s %q", describeGoType(m[3]), m[1], m[2])
		}
	}
	l.Add(line, "%s", msg)
}

func describeYAMLTag(tag string) string {
	if tag == "seq" {
		return "a list"
	}
	return "a mapping"
}

func describeGoType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "float") || strings.HasPrefix(t, "uint"):
		return "a number"
	case strings.HasPrefix(t, "time.Duration"):
		return "a duration like 5s"
	default:
		return "a mapping"
	}
}

// decodeStrict decodes data into v refusing unknown keys, adds every problem
// to errs, and returns the line of each key path ("routes.0.match") for the
// checks that follow. An empty document decodes to nothing, leaving v as it
// was; a second document or a null list item is refused (see checkDocument).
// ok is false when the problems leave v unusable.
func decodeStrict(data []byte, v any, errs *List) (lines map[string]int, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			errs.addYAMLError(err.Error())
			return nil, false
		}
		// yaml.v3 goes on decoding past type errors: report them all.
		for _, m := range te.Errors {
			errs.addYAMLError(m)
		}
	}
	lines = map[string]int{}
	if root := checkDocument(data, v, errs); root != nil {
		recordLines(root, "", lines)
	}
	return lines, true
}
