package layout

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCmdHoldsOnlyCommands checks the module: no Go file imports a path
// under cmd/, and every package under cmd/ is a command.
func TestCmdHoldsOnlyCommands(t *testing.T) {
	root, module := moduleRoot(t)
	problems, err := check(root, module)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if len(problems) > 0 {
		t.Log("a library lives outside cmd/ (e.g. in internal/); a command's main only reads flags and wires it")
	}
}

// TestCheckFindsViolations runs the check on a small tree that breaks
// both rules, so that it is known to fail when it should.
func TestCheckFindsViolations(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                      "module example.com/m\n",
		"cmd/tool/main.go":            "package main\n\nimport _ \"example.com/m/cmd/tool/lib\"\n\nfunc main() {}\n",
		"cmd/tool/lib/lib.go":         "package lib\n",
		"cmd/tool/lib/more.go":        "package lib\n",
		"cmd/tool/lib/lib_test.go":    "package lib_test\n",
		"internal/wire/wire.go":       "package wire\n\nimport (\n\t\"strings\"\n\tx \"example.com/m/cmd/tool\"\n)\n",
		"internal/wire/ok.go":         "package wire\n\nimport _ \"example.com/m/cmdline\"\n",
		"cmd/tool/main_test.go":       "package main\n",
		"cmd/tool/testdata/x.go":      "package x\n\nimport _ \"example.com/m/cmd/tool\"\n",
		"cmd/other/other_ext_test.go": "package main_test\n",
	}
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	problems, err := check(root, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`cmd/tool/lib/lib.go: package lib under cmd/ is not a command (package main)`,
		`cmd/tool/lib/lib_test.go: package lib_test under cmd/ is not a command (package main)`,
		`cmd/tool/main.go imports example.com/m/cmd/tool/lib, a path under cmd/`,
		`internal/wire/wire.go imports example.com/m/cmd/tool, a path under cmd/`,
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// moduleRoot finds the directory of go.mod above the working directory
// and the module path it declares.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
					return dir, strings.Trim(fields[1], `"`)
				}
			}
			t.Fatalf("%s/go.mod declares no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// check walks the Go files of the module at root (leaving out testdata,
// vendor and directories whose names start with "." or "_", as the go
// command does) and returns, in the order of the walk, every import of a
// path under module/cmd/ and every package under cmd/ that is not main
// (named by its first file).
func check(root, module string) ([]string, error) {
	cmdPrefix := module + "/cmd/"
	var problems []string
	notMain := map[string]bool{} // "dir package" already reported
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if pkg := f.Name.Name; strings.HasPrefix(rel, "cmd/") && pkg != "main" && pkg != "main_test" {
			if key := path.Dir(rel) + " " + pkg; !notMain[key] {
				notMain[key] = true
				problems = append(problems, fmt.Sprintf("%s: package %s under cmd/ is not a command (package main)", rel, pkg))
			}
		}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: import %s: %w", rel, imp.Path.Value, err)
			}
			if strings.HasPrefix(ip, cmdPrefix) || ip == module+"/cmd" {
				problems = append(problems, fmt.Sprintf("%s imports %s, a path under cmd/", rel, ip))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return problems, nil
}
