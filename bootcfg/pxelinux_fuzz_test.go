package bootcfg

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParsePXELinux: any input parses or is refused with a clear error,
// never a panic; a parsed file formats, and the formatted file parses
// back to the same tree (and formats to the same bytes).
func FuzzParsePXELinux(f *testing.F) {
	for _, s := range []string{
		"default a\nlabel a\n  kernel vmlinuz\n  append x=1\n",
		"# c\r\nMENU TITLE x \n\ntext help\nendtext\nlabel b c\n menu\x01x\n",
		"text\nlabel a\n",
		"label\n\tlabel\v\n#\nmenu\n",
		"append " + strings.Repeat("y", 4092) + "\nlabel a\n" + strings.Repeat("z", 4093) + "\n",
		"label a\n  text help\n ENDTEXT x\n endtextx\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := ParsePXELinux(src)
		if err != nil {
			if !errors.Is(err, ErrPXELinuxSyntax) {
				t.Fatalf("ParsePXELinux error %v does not wrap ErrPXELinuxSyntax", err)
			}
			return
		}
		out, err := p.Format()
		if err != nil {
			t.Fatalf("Format of a parsed file: %v\ninput %.300q", err, src)
		}
		q, err := ParsePXELinux(out)
		if err != nil {
			t.Fatalf("ParsePXELinux(Format()) = %v\nformatted %.300q", err, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the tree:\n got %#v\nwant %#v\ninput %.300q\nformatted %.300q", q, p, src, out)
		}
		again, err := q.Format()
		if err != nil || string(again) != string(out) {
			t.Fatalf("Format is not stable: %q, %v; first %q", again, err, out)
		}
		if _, err := p.Spec(); err != nil && !strings.HasPrefix(err.Error(), "bootcfg: pxelinux: ") {
			t.Fatalf("Spec() error without the package prefix: %v", err)
		}
	})
}

// FuzzPXELinuxBuilder: hostile values (names, paths, URLs, kernel
// arguments with spaces, quotes, '$', ';', line breaks) are either
// refused with a PXELinuxValueError or written so that the file parses
// back to exactly the values given.
func FuzzPXELinuxBuilder(f *testing.F) {
	f.Add("install", "Install; rm -rf /", "http://10.0.0.1/vmlinuz?a=1&b=$c", "initrd.gz", "b.dtb", "hostname=a b;c", "url=http://x/$y z", "x=a\nkernel evil", 50)
	f.Add("install", "Install Debian", "vmlinuz", "initrd.gz", "b.dtb", "hostname=a b;c", "url=http://x/$y z?q=1&r=2", "ip=dhcp", 50)
	f.Add("a\nb", "^x", "k#c", "a,b", "", `q="x"`, "x='a'", "y=${z}", 0)
	f.Add("#a", " t", "k initrd=x", "", "d", "-", "--", "#x", -1)
	f.Add("n", "title", "k", "i", "", "à=à b", "a=\u00a0", "z=$", 36000)
	f.Fuzz(func(t *testing.T, name, label, kernel, initrd, fdt, arg1, arg2, arg3 string, timeout int) {
		e := PXELinuxEntry{Name: name, MenuLabel: label, Kernel: kernel, Initrd: initrd, FDT: fdt, Args: []string{arg1, arg2, arg3}}
		spec := PXELinuxSpec{Default: name, Timeout: timeout, MenuTitle: label, Entries: []PXELinuxEntry{e, {Name: name + "-2", Kernel: "vmlinuz"}}}
		b, err := BuildPXELinux(spec)
		if err != nil {
			var ve *PXELinuxValueError
			if !errors.As(err, &ve) || !errors.Is(err, ErrPXELinuxValue) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("BuildPXELinux refused with %v, want a PXELinuxValueError naming field and reason", err)
			}
			return
		}
		text, err := b.Format()
		if err != nil {
			t.Fatalf("Format of a built file: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
			if strings.ContainsAny(line, "\r\x00") {
				t.Fatalf("built line %q holds CR or NUL", line)
			}
		}
		p, err := ParsePXELinux(text)
		if err != nil {
			t.Fatalf("ParsePXELinux(built) = %v\n%s", err, text)
		}
		got, err := p.Spec()
		if err != nil {
			t.Fatalf("Spec() of the built file: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(got, spec) {
			t.Fatalf("built file reads back as\n%#v\nwant\n%#v\nfile:\n%s", got, spec, text)
		}
		// What each loader does with the lines: SYSLINUX takes the first
		// word of label, default and kernel lines, U-Boot the whole line;
		// both agree only when there is one word.
		for _, l := range p.Labels {
			if strings.ContainsAny(l.Name, " \t") {
				t.Fatalf("label %q has more than one word", l.Name)
			}
		}
	})
}
