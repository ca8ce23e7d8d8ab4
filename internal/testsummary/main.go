// Command testsummary reads `go test -json` on its standard input, prints
// what plain `go test` would (one "ok"/"FAIL" line per package, the output of
// failed tests, build errors), then lists every skipped test with the reason
// it gave and ends with a line "N skipped". It exits 1 when a test, a package
// or a build failed. `make test` pipes its test run through it so that a
// skip is never silent:
//
//	go test -json ./... 2>&1 | go run ./internal/testsummary
//
// Lines that are not JSON (the go command's own errors) are printed as
// they come.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail
	Test       string
	Output     string
}

// skipped is a test that skipped and why.
type skipped struct {
	pkg, test, reason string
}

// summary turns a stream of events into plain go test output.
type summary struct {
	out     io.Writer
	failed  bool
	skips   []skipped
	passed  int // tests and subtests
	nfailed int
	pending map[string][]string // output of tests still running, by package and test
}

func run(in io.Reader, out io.Writer) int {
	s := &summary{out: out, pending: map[string][]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading go test -json: %v\n", err)
		s.failed = true
	}
	s.report()
	if s.failed {
		return 1
	}
	return 0
}

func (s *summary) handle(e event) {
	key := e.Package + " " + e.Test
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
	case "build-fail":
		s.failed = true
	case "output":
		if e.Test != "" {
			s.pending[key] = append(s.pending[key], e.Output)
		} else if e.Output != "PASS\n" { // plain go test prints no PASS line for a passing package
			fmt.Fprint(s.out, e.Output)
		}
	case "pass":
		if e.Test != "" {
			s.passed++
		}
		delete(s.pending, key)
	case "skip":
		if e.Test != "" {
			s.skips = append(s.skips, skipped{e.Package, e.Test, reason(s.pending[key])})
		}
		delete(s.pending, key)
	case "fail":
		s.failed = true
		if e.Test != "" {
			s.nfailed++
			s.print(s.pending[key])
			delete(s.pending, key)
			return
		}
		// A package that failed without its tests ending (a panic, a
		// timeout): show what its unfinished tests printed.
		for k, lines := range s.pending {
			if strings.HasPrefix(k, e.Package+" ") {
				s.print(lines)
				delete(s.pending, k)
			}
		}
	}
}

// print writes a failed test's output as plain go test shows it: without
// the "=== RUN" (PAUSE, CONT, NAME) lines that -json's verbose mode adds.
func (s *summary) print(lines []string) {
	for _, l := range lines {
		if !strings.HasPrefix(l, "=== ") {
			fmt.Fprint(s.out, l)
		}
	}
}

// reason is what a skipped test printed, without the framing lines.
func reason(lines []string) string {
	var r []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		r = append(r, t)
	}
	if len(r) == 0 {
		return "(no reason given)"
	}
	return strings.Join(r, " / ")
}

func (s *summary) report() {
	if len(s.skips) > 0 {
		fmt.Fprintf(s.out, "\nskipped tests:\n")
		for _, k := range s.skips {
			fmt.Fprintf(s.out, "  %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	// The plain closing line CI systems read: tests and subtests.
	fmt.Fprintf(s.out, "tests: %d passed, %d failed, %d skipped\n", s.passed, s.nfailed, len(s.skips))
}
