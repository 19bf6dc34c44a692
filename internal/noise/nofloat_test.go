package noise

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbiddenImports are packages whose use would bring floating point (or
// a non-cryptographic generator) into the noise path. math/bits is fine.
var forbiddenImports = map[string]bool{
	"math": true, "math/big": true, "math/cmplx": true, "math/rand": true, "math/rand/v2": true,
}

// syntaxFloats returns every float type, float or imaginary literal,
// float-named selector (strconv.ParseFloat, big.Float) and forbidden
// import in f.
func syntaxFloats(fset *token.FileSet, f *ast.File) []string {
	var found []string
	report := func(n ast.Node, what string) {
		found = append(found, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), what))
	}
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); forbiddenImports[path] {
			report(imp, "imports "+path)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind == token.FLOAT || n.Kind == token.IMAG {
				report(n, "literal "+n.Value)
			}
		case *ast.Ident:
			switch n.Name {
			case "float32", "float64", "complex64", "complex128", "complex", "real", "imag":
				report(n, n.Name)
			}
		case *ast.SelectorExpr:
			if strings.Contains(n.Sel.Name, "Float") || strings.Contains(n.Sel.Name, "Complex") {
				report(n, "selector "+n.Sel.Name)
			}
		}
		return true
	})
	return found
}

// typedFloats type-checks files as one package and returns every
// expression whose type is a float or complex, however it got there (a
// function of another package returning float64, an untyped float
// constant).
func typedFloats(fset *token.FileSet, files []*ast.File) ([]string, error) {
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	if _, err := conf.Check("noise", fset, files, info); err != nil {
		return nil, err
	}
	var found []string
	for expr, tv := range info.Types {
		if b, ok := tv.Type.Underlying().(*types.Basic); ok && b.Info()&(types.IsFloat|types.IsComplex) != 0 {
			found = append(found, fmt.Sprintf("%s: %s has type %s", fset.Position(expr.Pos()), types.ExprString(expr), tv.Type))
		}
	}
	return found, nil
}

// TestNoFloatingPoint enforces the package's promise (see "Why no floating
// point" in doc.go; docs/PRIVACY.md, "The attack suite", attack 13): no
// floating point in the noise path. Test files may use
// math for the statistics.
func TestNoFloatingPoint(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		for _, use := range syntaxFloats(fset, f) {
			t.Errorf("floating point in the noise path: %s", use)
		}
	}
	if len(files) < 4 {
		t.Fatalf("found only %d source files", len(files))
	}
	if testing.Short() {
		return // the type check parses the imported packages' sources
	}
	uses, err := typedFloats(fset, files)
	if err != nil {
		t.Fatalf("type-check: %v", err)
	}
	for _, use := range uses {
		t.Errorf("floating point in the noise path: %s", use)
	}
}

// TestNoFloatingPoint_Detects checks that the checks above have teeth.
func TestNoFloatingPoint_Detects(t *testing.T) {
	src := `package p

import (
	"math"
	"strconv"
	"time"
)

var a = 1.5
var b float64
var c = 2i
var d, _ = strconv.ParseFloat("1", 64)
var e = math.MaxInt64
var f = time.Second.Seconds()
var g = 1 / 3
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	syn := strings.Join(syntaxFloats(fset, f), "\n")
	for _, want := range []string{"imports math", "literal 1.5", "float64", "literal 2i", "selector ParseFloat"} {
		if !strings.Contains(syn, want) {
			t.Errorf("syntax check missed %q; found:\n%s", want, syn)
		}
	}
	if strings.Contains(syn, "p.go:16") {
		t.Errorf("syntax check flagged the integer division 1/3:\n%s", syn)
	}
	if testing.Short() {
		return
	}
	typed, err := typedFloats(fset, []*ast.File{f})
	if err != nil {
		t.Fatalf("type-check: %v", err)
	}
	// time.Second.Seconds() returns a float64 without naming one.
	if s := strings.Join(typed, "\n"); !strings.Contains(s, "time.Second.Seconds()") {
		t.Errorf("type check missed a float64 result; found:\n%s", s)
	}
}
