package modules_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root is the core module's directory.
const root = "../.."

// corePath is the core module's path.
const corePath = "github.com/whizbang-go/whizbang"

// heavy are the dependencies that must stay out of the core module and
// out of its importers' builds.
var heavy = []string{"redis", "pgx", "sqlite", "prometheus", "opentelemetry", "etcd",
	"consul", "chromedp", "zap", "grpc"}

// allowed reports whether the core module may require the module path.
func allowed(path string) bool {
	return path == "github.com/fsnotify/fsnotify" || path == "go.uber.org/goleak" ||
		strings.HasPrefix(path, "golang.org/x/")
}

// goMod is the part of a go.mod file these tests read.
type goMod struct {
	Module  struct{ Path string }
	Go      string
	Require []struct {
		Path     string
		Indirect bool
	}
}

func readGoMod(t *testing.T, dir string) goMod {
	t.Helper()
	cmd := exec.Command("go", "mod", "edit", "-json")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod edit -json in %s: %v", dir, err)
	}
	var m goMod
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCoreGoModRequiresOnlyTheStandardLibraryAndAllowedModules(t *testing.T) {
	m := readGoMod(t, root)
	if m.Module.Path != corePath {
		t.Fatalf("module %q, want %q", m.Module.Path, corePath)
	}
	if m.Go != "1.25" {
		t.Errorf("go line %q, want 1.25 (the lowest testing/synctest allows)", m.Go)
	}
	for _, r := range m.Require {
		if !allowed(r.Path) {
			t.Errorf("the core module requires %s (indirect: %v)", r.Path, r.Indirect)
		}
	}
}

// TestCoreOnlyApplicationHasNoHeavyDependencies publishes the core module,
// as it is in this tree, on a module proxy in a directory (the way a tagged
// release reaches users), builds an application that imports every core
// package, and reads the application's go.sum and module graph.
func TestCoreOnlyApplicationHasNoHeavyDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an application: not in -short")
	}
	const version = "v0.0.1"
	proxy := t.TempDir()
	publish(t, proxy, version)

	app := t.TempDir()
	write(t, filepath.Join(app, "go.mod"), "module example.com/app\n\ngo 1.25\n")
	write(t, filepath.Join(app, "main.go"), appSource(t))
	// A fresh module cache, so that this tree's version is not kept: it is
	// filled from ours where it can be, else from the usual proxy.
	cached := "file://" + filepath.ToSlash(filepath.Join(goEnv(t, "GOMODCACHE"), "cache", "download"))
	env := append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+","+cached+","+goEnv(t, "GOPROXY"),
		"GONOSUMDB="+corePath, "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOMODCACHE="+t.TempDir(),
	)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = app, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("get", corePath+"@"+version)
	run("mod", "tidy")
	run("build", "./...")
	t.Cleanup(func() { run("clean", "-modcache") }) // the cache's files are read-only

	sum, err := os.ReadFile(filepath.Join(app, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sum)), "\n")
	t.Logf("go.sum of a core-only application, %d lines:\n%s", len(lines), sum)
	for _, l := range lines {
		if name := heavyIn(l); name != "" {
			t.Errorf("go.sum has a line for %s: %s", name, l)
		}
	}
	for _, m := range strings.Fields(run("list", "-m", "-f", "{{.Path}}", "all")) {
		if name := heavyIn(m); name != "" {
			t.Errorf("the module graph holds %s (%s)", m, name)
		}
	}
}

// heavyIn returns the heavy dependency s names, or "".
func heavyIn(s string) string {
	path, _, _ := strings.Cut(s, " ")
	for _, h := range heavy {
		if strings.Contains(strings.ToLower(path), h) {
			return h
		}
	}
	return ""
}

// appSource is a main package that imports every package of the core
// module but internal ones and commands.
func appSource(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{if ne .Name "main"}}{{.ImportPath}}{{end}}`, "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	n := 0
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal") {
			continue
		}
		b.WriteString("\t_ \"" + p + "\"\n")
		n++
	}
	b.WriteString(")\n\nfunc main() {}\n")
	if n < 10 {
		t.Fatalf("only %d core packages found:\n%s", n, out)
	}
	return b.String()
}

// publish lays out the core module at version in proxy, the GOPROXY
// directory format: list, .info, .mod and the .zip of every file of the
// module (not of the modules nested in it).
func publish(t *testing.T, proxy, version string) {
	t.Helper()
	dir := filepath.Join(proxy, filepath.FromSlash(corePath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "list"), version+"\n")
	write(t, filepath.Join(dir, version+".info"), `{"Version":"`+version+`","Time":"2026-01-01T00:00:00Z"}`)
	write(t, filepath.Join(dir, version+".mod"), string(mod))

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	prefix := corePath + "@" + version + "/"
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") || rel == "artifacts" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w, err := zw.Create(prefix + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, version+".zip"), buf.String())
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unlisted are the modules of the repository nobody imports.
var unlisted = map[string]bool{"bench": true, "cmd/whizbang": true, "dashboard/browsertest": true}

// TestREADMEInstallTableMatchesTheModules checks the README's install
// table against the go.mod files of the repository: every importable
// module is listed, and with its go line.
func TestREADMEInstallTableMatchesTheModules(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{} // module path -> Go column
	for _, l := range strings.Split(string(readme), "\n") {
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if len(cells) != 3 || !strings.HasPrefix(cells[1], "`"+corePath) {
			continue
		}
		listed[strings.Trim(cells[1], "`")] = cells[2]
	}
	if len(listed) == 0 {
		t.Fatal("no install table in README.md")
	}
	var nested int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		dir := filepath.Dir(path)
		rel, _ := filepath.Rel(root, dir)
		if unlisted[filepath.ToSlash(rel)] {
			return nil
		}
		nested++
		m := readGoMod(t, dir)
		goLine, ok := listed[m.Module.Path]
		switch {
		case !ok:
			t.Errorf("README's install table does not list the module %s", m.Module.Path)
		case goLine != m.Go:
			t.Errorf("README's install table gives %s Go %s; its go.mod says go %s", m.Module.Path, goLine, m.Go)
		}
		delete(listed, m.Module.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if nested < 2 {
		t.Skip("the nested modules are not here (the core module alone, as published)")
	}
	for path := range listed {
		t.Errorf("README's install table lists %s, which is no module of this repository", path)
	}
}
