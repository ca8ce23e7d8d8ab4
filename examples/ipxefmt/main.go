// Command ipxefmt formats iPXE scripts, like gofmt does Go: one canonical
// layout that never changes what iPXE runs (see ipxescript.Printer).
//
//	ipxefmt [-l] [-w] [-d] [-lint] [-indent n] [path ...]
//
// Without a path it reads standard input and writes the formatted script
// to standard output. A path that is a directory is walked for files ending
// in ".ipxe".
//
//	-l      list files whose formatting differs from ipxefmt's
//	-w      write the result to the file instead of standard output
//	        (atomically; a file that does not parse is left alone)
//	-d      print a unified diff instead of the formatted script
//	-lint   print lint findings as file:line:col: code: message
//
// Exit status: 2 if a file could not be read or parsed (the error names the
// position), else 1 if -lint found anything, else 0.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pxekit/pxekit/ipxescript"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type options struct {
	list, write, diff, lint bool
	indent                  uint
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("ipxefmt", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o options
	fl.BoolVar(&o.list, "l", false, "list files whose formatting differs")
	fl.BoolVar(&o.write, "w", false, "write result to (source) file instead of stdout")
	fl.BoolVar(&o.diff, "d", false, "display diffs instead of rewriting files")
	fl.BoolVar(&o.lint, "lint", false, "report lint findings (exit 1 if any)")
	fl.UintVar(&o.indent, "indent", 4, "spaces per indentation level (0 = tab)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: ipxefmt [-l] [-w] [-d] [-lint] [-indent n] [path ...]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	st := &state{o: o, stdout: stdout, stderr: stderr}
	if fl.NArg() == 0 {
		if o.write {
			fmt.Fprintln(stderr, "ipxefmt: cannot use -w with standard input")
			return 2
		}
		src, err := io.ReadAll(stdin)
		if err != nil {
			st.errorf("ipxefmt: reading standard input: %v", err)
		} else {
			st.process("<standard input>", src, false, 0)
		}
		return st.exit()
	}
	for _, p := range fl.Args() {
		info, err := os.Stat(p)
		if err != nil {
			st.errorf("ipxefmt: %v", err)
			continue
		}
		if !info.IsDir() {
			st.file(p, info.Mode())
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				st.errorf("ipxefmt: %v", err)
				return nil
			}
			if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".ipxe") {
				if info, err := d.Info(); err == nil {
					st.file(path, info.Mode())
				}
			}
			return nil
		})
		if err != nil {
			st.errorf("ipxefmt: %v", err)
		}
	}
	return st.exit()
}

type state struct {
	o              options
	stdout, stderr io.Writer
	failed, found  bool
}

func (s *state) errorf(format string, v ...any) {
	fmt.Fprintf(s.stderr, format+"\n", v...)
	s.failed = true
}

func (s *state) exit() int {
	switch {
	case s.failed:
		return 2
	case s.found:
		return 1
	}
	return 0
}

func (s *state) file(path string, mode fs.FileMode) {
	src, err := os.ReadFile(path)
	if err != nil {
		s.errorf("ipxefmt: %v", err)
		return
	}
	s.process(path, src, true, mode)
}

func (s *state) process(name string, src []byte, isFile bool, mode fs.FileMode) {
	f, err := ipxescript.Parse(src, name)
	if err != nil {
		s.errorf("%v", err)
		return
	}
	if s.o.lint {
		for _, fd := range ipxescript.Lint(f) {
			fmt.Fprintf(s.stdout, "%s:%s: %s: %s\n", name, fd.Pos, fd.Code, fd.Message)
			s.found = true
		}
		if !s.o.list && !s.o.write && !s.o.diff {
			return
		}
	}
	var out bytes.Buffer
	if err := ipxescript.NewPrinter(ipxescript.Indent(s.o.indent)).Print(&out, f); err != nil {
		s.errorf("%s: %v", name, err)
		return
	}
	res := out.Bytes()
	changed := !bytes.Equal(src, res)
	if s.o.list && changed {
		fmt.Fprintln(s.stdout, name)
	}
	if s.o.write && isFile && changed {
		if err := writeAtomic(name, res, mode); err != nil {
			s.errorf("ipxefmt: %v", err)
			return
		}
	}
	if s.o.diff && changed {
		io.WriteString(s.stdout, unifiedDiff(name, src, res))
	}
	if !s.o.list && !s.o.write && !s.o.diff {
		s.stdout.Write(res)
	}
}

// writeAtomic replaces path with data through a temporary file in the same
// directory and a rename, keeping the file mode.
func writeAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".ipxefmt-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Chmod(mode.Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}
