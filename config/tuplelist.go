package config

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
)

// A policy may list a million tuples. yaml.v3 builds a Node for every item,
// and decoding walks the document more than once, which costs about 1 GB for
// such a list. The top-level tuples list is nearly always a block sequence
// of one-line strings, plain or (conditional tuples, whose context holds
// ": ") single-quoted, which needs no YAML machinery to read: the
// functions below take it out of the text and let yaml.v3 parse the rest.
// Anything unusual (double quotes, flow style, comments after an item, null
// items, anchors, a line that could be read another way) leaves the
// document to yaml.v3 whole, so every error keeps its wording and line.

// tupleBlock is a top-level tuples list cut out of a document.
type tupleBlock struct {
	keyLine int      // line of the `tuples:` key
	tuples  []string // the items, in order
	lines   []int    // line of each item
	rest    []byte   // the document with `tuples: []` on keyLine and the items' lines blank
}

// cutTuples finds the first line that is exactly `tuples:` at column 0,
// followed by a block sequence of plain or single-quoted tuple strings
// (isPlainTuple, isQuotedTuple), and returns it cut
// out; ok is false when there is no such list or anything about it is
// unusual. Every other line keeps its number in rest. The caller must still
// check, on the tree parsed from rest, that keyLine holds a key of the top
// mapping (see isCutKey): only the parser knows whether that line lies
// inside a multi-line scalar or a flow collection.
func cutTuples(data []byte) (tupleBlock, bool) {
	var b tupleBlock
	if bytes.IndexByte(data, '\r') >= 0 || bytes.IndexByte(data, '\t') >= 0 {
		return b, false
	}
	// Find the key line.
	line, off := 1, 0
	for {
		end := lineEnd(data, off)
		if isTuplesKey(data[off:end]) {
			break
		}
		if end == len(data) {
			return b, false
		}
		off, line = end+1, line+1
	}
	b.keyLine = line
	keyStart, keyEnd := off, lineEnd(data, off)
	// Read the items: lines `- item` at one indent, blank lines and comments.
	indent := -1
	first := keyEnd + 1 // offset of the first line after the key
	off, line = first, line+1
	blockEnd := first // offset just past the last item line
	n := 0
	for off < len(data) {
		end := lineEnd(data, off)
		l := data[off:end]
		sp := 0
		for sp < len(l) && l[sp] == ' ' {
			sp++
		}
		switch {
		case sp == len(l):
			// Blank line: part of the block only if an item follows.
		case l[sp] == '#':
			// A comment, cut out with the items: yaml.v3 would refuse
			// control characters or bad UTF-8 in it, so take printable
			// ASCII only.
			for _, c := range l[sp:] {
				if c < ' ' || c > '~' {
					return b, false
				}
			}
		case sp == 0 && (len(l) < 2 || l[0] != '-' || l[1] != ' '):
			// The next top-level line ends the list.
			off = len(data) + 1
			continue
		case indent >= 0 && sp != indent:
			return b, false // a continuation line or another indent
		case len(l)-sp < 2 || l[sp] != '-' || l[sp+1] != ' ':
			return b, false
		default:
			indent = sp
			if item := bytes.TrimRight(l[sp+2:], " "); !isPlainTuple(item) && !isQuotedTuple(item) {
				return b, false
			}
			n++
			blockEnd = end
		}
		if end == len(data) {
			break
		}
		off, line = end+1, line+1
	}
	if n == 0 {
		return b, false
	}
	// One string holds every item so the list costs one allocation; the
	// items are substrings of it.
	block := string(data[first:blockEnd])
	b.tuples = make([]string, 0, n)
	b.lines = make([]int, 0, n)
	line = b.keyLine + 1
	for off := 0; off < len(block); {
		end := off + indexByteString(block[off:], '\n')
		l := block[off:end]
		sp := 0
		for sp < len(l) && l[sp] == ' ' {
			sp++
		}
		if sp < len(l) && l[sp] == '-' {
			item := l[sp+2:]
			for len(item) > 0 && item[len(item)-1] == ' ' {
				item = item[:len(item)-1]
			}
			if item[0] == '\'' {
				item = unquoteSingle(item)
			}
			b.tuples = append(b.tuples, item)
			b.lines = append(b.lines, line)
		}
		off, line = end+1, line+1
	}
	// rest: the key line becomes `tuples: []`, each item line an empty line.
	rest := make([]byte, 0, len(data)-(blockEnd-first)+(line-b.keyLine)+8)
	rest = append(rest, data[:keyStart]...)
	rest = append(rest, "tuples: []"...)
	for range line - b.keyLine {
		rest = append(rest, '\n')
	}
	if blockEnd < len(data) {
		rest = append(rest, data[blockEnd+1:]...)
	}
	b.rest = rest
	return b, true
}

func lineEnd(data []byte, off int) int {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(data)
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}

// isTuplesKey reports whether l is `tuples:`, maybe with trailing spaces.
func isTuplesKey(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("tuples:"))
	return ok && len(bytes.TrimRight(rest, " ")) == 0
}

// isPlainTuple reports whether s reads as the same string in any YAML: it
// starts with a letter, holds a colon (so no YAML 1.1 or 1.2 resolver takes
// it for a null, boolean or number), does not end with one (a mapping), and
// has no space, quote, flow indicator, anchor, tag or comment character.
func isPlainTuple(s []byte) bool {
	if len(s) == 0 || !isLetter(s[0]) || s[len(s)-1] == ':' {
		return false
	}
	colon := false
	for _, c := range s {
		switch {
		case isLetter(c) || c >= '0' && c <= '9':
		case c == ':':
			colon = true
		case c == '#' || c == '@' || c == '_' || c == '-' || c == '.' || c == '/' || c == '|' || c == '*' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return colon
}

// isQuotedTuple reports whether s is one single-quoted YAML scalar of
// printable ASCII (a doubled quote stands for one) with something in it. Single
// quotes take everything else literally, and a quoted scalar is a string
// in any YAML, so only the quotes themselves need reading.
func isQuotedTuple(s []byte) bool {
	if len(s) < 3 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return false
	}
	in := s[1 : len(s)-1]
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c < ' ' || c > '~':
			return false
		case c == '\'':
			if i+1 == len(in) || in[i+1] != '\'' {
				return false // the scalar ends before the line does
			}
			i++
		}
	}
	return true
}

// unquoteSingle returns the value of a scalar isQuotedTuple accepted: a
// substring when it holds no doubled quote.
func unquoteSingle(s string) string {
	in := s[1 : len(s)-1]
	if !strings.Contains(in, "''") {
		return in
	}
	return strings.ReplaceAll(in, "''", "'")
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isCutKey reports whether root, the top node parsed from a tupleBlock's
// rest, is a block mapping with the key `tuples` on keyLine at column 1 and
// an empty list as its value: then the lines cut out were that key's list
// and nothing else.
func (b *tupleBlock) isCutKey(root *yaml.Node) bool {
	if root == nil || root.Kind != yaml.MappingNode || root.Style&yaml.FlowStyle != 0 {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Line == b.keyLine {
			return k.Kind == yaml.ScalarNode && k.Value == "tuples" && k.Column == 1 && k.Style == 0 &&
				v.Kind == yaml.SequenceNode && len(v.Content) == 0 && v.Line == b.keyLine && v.Anchor == ""
		}
	}
	return false
}
