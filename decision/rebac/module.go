package rebac

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/openfga/language/pkg/go/transformer"
)

// ModuleFile is one file of a modular model: its name, as fga.mod lists
// it, and its text.
type ModuleFile struct {
	Name     string
	Contents string
}

// ReadModFile reads an fga.mod file (schema 1.2) and returns the module
// files it lists, in order, as paths relative to its folder.
func ReadModFile(data string) (files []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			files, err = nil, &ModelError{File: "fga.mod", Msg: fmt.Sprintf("parser failed: %v", r)}
		}
	}()
	mf, err := transformer.TransformModFile(data)
	if err != nil {
		var multi *transformer.ModFileValidationMultipleError
		if errors.As(err, &multi) && len(multi.Errors) > 0 {
			var ve *transformer.ModFileValidationError
			if errors.As(multi.Errors[0], &ve) {
				return nil, &ModelError{File: "fga.mod", Line: ve.Line + 1, Msg: ve.Msg}
			}
			err = multi.Errors[0]
		}
		return nil, &ModelError{File: "fga.mod", Msg: strings.TrimSpace(err.Error())}
	}
	for _, c := range mf.Contents.Value {
		files = append(files, c.Value)
	}
	if len(files) == 0 {
		return nil, &ModelError{File: "fga.mod", Msg: "contents lists no module file"}
	}
	return files, nil
}

// ParseModules combines the files of a modular model (schema 1.2:
// `module`, `type`, `extend type`, conditions) into one model, with
// github.com/openfga/language's module transformer, and checks it as
// ParseModel does. Errors are *ModelError naming the file.
func ParseModules(files []ModuleFile) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, &ModelError{Msg: fmt.Sprintf("syntax error: parser failed: %v", r)}
		}
	}()
	if len(files) == 0 {
		return nil, &ModelError{Msg: "a modular model needs at least one module file"}
	}
	sources := make(map[string]string, len(files))
	lf := make([]transformer.ModuleFile, 0, len(files))
	for _, f := range files {
		if _, dup := sources[f.Name]; dup {
			return nil, &ModelError{File: f.Name, Msg: "module file listed twice"}
		}
		sources[f.Name] = f.Contents
		if !isModule(f.Contents) {
			return nil, &ModelError{File: f.Name, Msg: "not a module file: it must start with \"module NAME\""}
		}
		// The combined transform drops the file of a syntax error; parse
		// each file alone first to keep it.
		if _, _, err := transformer.TransformModularDSLToProto(f.Contents); err != nil {
			var me *ModelError
			if errors.As(syntaxError(err), &me) {
				me.File = f.Name
				return nil, me
			}
			return nil, &ModelError{File: f.Name, Msg: err.Error()}
		}
		lf = append(lf, transformer.ModuleFile{Name: f.Name, Contents: f.Contents})
	}
	pm, err := transformer.TransformModuleFilesToModel(lf, "1.2")
	if err != nil {
		var multi *transformer.ModuleValidationMultipleError
		if errors.As(err, &multi) && len(multi.Errors) > 0 {
			err = multi.Errors[0]
		}
		var se *transformer.ModuleTransformationSingleError
		if errors.As(err, &se) {
			// The transformer's lines are 0-based, whatever its comment says.
			return nil, &ModelError{File: se.File, Line: se.Line.Start + 1, Msg: se.Msg}
		}
		return nil, &ModelError{Msg: strings.TrimSpace(err.Error())}
	}
	return fromProto(pm, "", sources)
}

// isModule reports whether a file's first statement is "module NAME".
func isModule(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		return f[0] == "module" && len(f) >= 2
	}
	return false
}

// ModuleNames lists a modular model's files, sorted; nil for a single-file model.
func (m *Model) ModuleNames() []string {
	if m.sources == nil {
		return nil
	}
	out := make([]string, 0, len(m.sources))
	for n := range m.sources {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
