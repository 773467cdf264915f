package sdk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/capstream/capstream/sdk/abi"
)

// TestImportNames checks the go:wasmimport and go:wasmexport directives,
// which cannot name constants, against package abi and the signatures of
// sdk/ABI.md.
func TestImportNames(t *testing.T) {
	// The host functions, from package abi's source: every Func* constant.
	abiFuncs := map[string]bool{}
	abiFile := parse(t, "abi/abi.go")
	for _, d := range abiFile.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if strings.HasPrefix(n.Name, "Func") {
					v, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					abiFuncs[v] = true
				}
			}
		}
	}
	if len(abiFuncs) == 0 {
		t.Fatal("found no Func constants in abi/abi.go")
	}

	// The signatures of sdk/ABI.md, as wasm types.
	want := map[string]string{
		abi.FuncInput:      "() i32",
		abi.FuncRead:       "(i32 i32) i32",
		abi.FuncSetOutput:  "(i32 i32) i32",
		abi.FuncSetError:   "(i32 i32) i32",
		abi.FuncLog:        "(i32 i32 i32) i32",
		abi.FuncProgress:   "(f64 f64 i32 i32) i32",
		abi.FuncOutput:     "(i32 i32) i32",
		abi.FuncHTTP:       "(i32 i32) i32",
		abi.FuncKVGet:      "(i32 i32) i32",
		abi.FuncKVSet:      "(i32 i32 i32 i32) i32",
		abi.FuncKVDelete:   "(i32 i32) i32",
		abi.FuncKVList:     "(i32 i32) i32",
		abi.FuncCapability: "() i32",
	}
	if got, wantNames := slices.Sorted(maps.Keys(abiFuncs)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantNames) {
		t.Fatalf("package abi has functions %v, this test knows %v", got, wantNames)
	}

	imported := map[string]bool{}
	for _, fd := range funcDecls(parse(t, "imports_wasip1.go")) {
		module, name, ok := directive(fd, "//go:wasmimport ")
		if !ok {
			continue
		}
		if module != abi.Module {
			t.Errorf("%s imports from module %q, want %q", fd.Name.Name, module, abi.Module)
		}
		if !abiFuncs[name] {
			t.Errorf("%s imports %q, which package abi does not name", fd.Name.Name, name)
		}
		if got := wasmSignature(t, fd); got != want[name] {
			t.Errorf("%s: import %q has wasm signature %s, want %s", fd.Name.Name, name, got, want[name])
		}
		imported[name] = true
	}
	for name := range abiFuncs {
		if !imported[name] {
			t.Errorf("host function %q is not imported", name)
		}
	}

	exported := map[string]bool{}
	for _, fd := range funcDecls(parse(t, "exports_wasip1.go")) {
		if name, _, ok := directive(fd, "//go:wasmexport "); ok {
			exported[name] = true
			if got := wasmSignature(t, fd); got != "() i32" {
				t.Errorf("export %q has wasm signature %s, want () i32", name, got)
			}
		}
	}
	for _, name := range []string{abi.ExportRun, abi.ExportManifest} {
		if !exported[name] {
			t.Errorf("%q is not exported", name)
		}
	}
}

func parse(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func funcDecls(f *ast.File) []*ast.FuncDecl {
	var out []*ast.FuncDecl
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok {
			out = append(out, fd)
		}
	}
	return out
}

// directive returns the two words after prefix in fd's doc comment.
func directive(fd *ast.FuncDecl, prefix string) (first, second string, ok bool) {
	if fd.Doc == nil {
		return "", "", false
	}
	for _, c := range fd.Doc.List {
		if rest, found := strings.CutPrefix(c.Text, prefix); found {
			words := strings.Fields(rest)
			words = append(words, "", "")
			return words[0], words[1], true
		}
	}
	return "", "", false
}

// wasmSignature lowers a Go function's parameter and result types as the
// compiler does for go:wasmimport and go:wasmexport.
func wasmSignature(t *testing.T, fd *ast.FuncDecl) string {
	t.Helper()
	lower := func(fl *ast.FieldList) []string {
		var out []string
		if fl == nil {
			return out
		}
		for _, f := range fl.List {
			var types []string
			switch ty := f.Type.(type) {
			case *ast.StarExpr:
				types = []string{"i32"}
			case *ast.Ident:
				switch ty.Name {
				case "int32", "uint32", "bool":
					types = []string{"i32"}
				case "int64", "uint64":
					types = []string{"i64"}
				case "float64":
					types = []string{"f64"}
				case "float32":
					types = []string{"f32"}
				case "string":
					types = []string{"i32", "i32"}
				}
			}
			if types == nil {
				t.Fatalf("%s: cannot lower parameter type %T", fd.Name.Name, f.Type)
			}
			n := max(len(f.Names), 1)
			for range n {
				out = append(out, types...)
			}
		}
		return out
	}
	return "(" + strings.Join(lower(fd.Type.Params), " ") + ") " + strings.Join(lower(fd.Type.Results), " ")
}
