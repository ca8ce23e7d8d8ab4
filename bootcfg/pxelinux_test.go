package bootcfg

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/kernelcmdline"
)

func TestParsePXELinux(t *testing.T) {
	src := "# generated\r\n" +
		"DEFAULT  linux\n" +
		"Prompt 0\n" +
		"\n" +
		"MENU   TITLE  Boot  menu  \n" +
		"serial 0 115200\n" +
		"label linux\n" +
		"\tMenu Label ^Install\n" +
		"  KERNEL vmlinuz#conf\n" +
		"  append console=ttyS0 x=\"a b\"   # not a comment\n" +
		"  text help\n" +
		"    label inside help\n" +
		"  ENDTEXT\n" +
		"  whatever\tvalue\n" +
		"label two words\n" +
		"localboot 0\n" +
		"timeout 30"
	got, err := ParsePXELinux([]byte(src))
	if err != nil {
		t.Fatalf("ParsePXELinux: %v", err)
	}
	want := &PXELinux{
		Global: []PXELinuxDirective{
			{Keyword: "#", Value: " generated"},
			{Keyword: "default", Value: "linux"},
			{Keyword: "prompt", Value: "0"},
			{},
			{Keyword: "menu title", Value: "Boot  menu  "},
			{Keyword: "serial", Value: "0 115200"},
		},
		Labels: []PXELinuxLabel{
			{Name: "linux", Directives: []PXELinuxDirective{
				{Keyword: "menu label", Value: "^Install"},
				{Keyword: "kernel", Value: "vmlinuz#conf"},
				{Keyword: "append", Value: `console=ttyS0 x="a b"   # not a comment`},
				{Keyword: "text", Value: "help", Text: []string{"    label inside help"}},
				{Keyword: "whatever", Value: "value"},
			}},
			{Name: "two words", Directives: []PXELinuxDirective{
				{Keyword: "localboot", Value: "0"},
				{Keyword: "timeout", Value: "30"},
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParsePXELinux:\n got %#v\nwant %#v", got, want)
	}
	out, err := got.Format()
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	again, err := ParsePXELinux(out)
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("ParsePXELinux(Format()) = %#v, %v; want %#v\nformatted:\n%s", again, err, got, out)
	}
}

func TestParsePXELinuxRefuses(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"NUL", "default a\nlabel a\x00b\n", "line 2: NUL byte"},
		{"long line", "append " + strings.Repeat("x", PXELinuxMaxLine) + "\n", "line 1: 4102 bytes"},
	} {
		_, err := ParsePXELinux([]byte(tc.src))
		if !errors.Is(err, ErrPXELinuxSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParsePXELinux = %v, want ErrPXELinuxSyntax with %q", tc.name, err, tc.want)
		}
	}
}

func TestPXELinuxFormatRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    PXELinux
		want string
	}{
		{"newline in value", PXELinux{Global: []PXELinuxDirective{{Keyword: "default", Value: "a\nkernel evil"}}}, "line break"},
		{"CR in label", PXELinux{Labels: []PXELinuxLabel{{Name: "a\rb"}}}, "line break"},
		{"leading blank", PXELinux{Global: []PXELinuxDirective{{Keyword: "append", Value: " x"}}}, "starts with a blank"},
		{"upper keyword", PXELinux{Global: []PXELinuxDirective{{Keyword: "KERNEL", Value: "x"}}}, "upper case"},
		{"two-word keyword", PXELinux{Global: []PXELinuxDirective{{Keyword: "kernel x", Value: "y"}}}, "blank or control"},
		{"menu with value", PXELinux{Global: []PXELinuxDirective{{Keyword: "menu", Value: "title x"}}}, `"menu <word>"`},
		{"global label", PXELinux{Global: []PXELinuxDirective{{Keyword: "label", Value: "x"}}}, "label directive"},
		{"label in label", PXELinux{Labels: []PXELinuxLabel{{Name: "a", Directives: []PXELinuxDirective{{Keyword: "label", Value: "b"}}}}}, "label directive"},
		{"endtext in text", PXELinux{Global: []PXELinuxDirective{{Keyword: "text", Value: "help", Text: []string{" EndText"}}}}, "endtext"},
		{"comment keyword", PXELinux{Global: []PXELinuxDirective{{Keyword: "#x", Value: "y"}}}, "comment"},
		{"long", PXELinux{Global: []PXELinuxDirective{{Keyword: "append", Value: strings.Repeat("x", PXELinuxMaxLine)}}}, "longer than"},
	} {
		_, err := tc.f.Format()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bootcfg: ") {
			t.Errorf("%s: Format = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// hostileArgs are kernel arguments that must reach Linux literally.
var hostileArgs = []string{
	"console=ttyS0,115200n8",
	"hostname=a b;c&d|e",
	"url=http://10.0.0.1/x?a=1&b=$HOME;rm -rf /",
	"pxekit.marker=spaces  and $dollar ;semicolon #hash",
	"utf8=naïve à",
	"quiet",
	"empty=",
	"eq=a=b=c",
}

func TestBuildPXELinuxRoundTrip(t *testing.T) {
	spec := PXELinuxSpec{
		Default:   "install",
		Timeout:   50,
		Prompt:    true,
		MenuTitle: "pxekit boot: machine #7 (rack 3)",
		Entries: []PXELinuxEntry{
			{Name: "install", MenuLabel: "Install Debian; really", Kernel: "http://10.0.0.1:8080/d/vmlinuz?x=1&y=$z",
				Initrd: "initrd.gz", FDT: "dtbs/board.dtb", FDTDir: "dtbs/",
				Args: hostileArgs, IPAppend: 2},
			{Name: "rescue", Kernel: "vmlinuz"},
		},
	}
	f, err := BuildPXELinux(spec)
	if err != nil {
		t.Fatalf("BuildPXELinux: %v", err)
	}
	text, err := f.Format()
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	parsed, err := ParsePXELinux(text)
	if err != nil {
		t.Fatalf("ParsePXELinux(built): %v\n%s", err, text)
	}
	got, err := parsed.Spec()
	if err != nil || !reflect.DeepEqual(got, spec) {
		t.Fatalf("Spec() of the built file = %+v, %v\nwant %+v\nfile:\n%s", got, err, spec, text)
	}
	// What Linux gets: the append line split by Linux's own rules gives
	// every argument back.
	appendLine, ok := parsed.Label("install").Value("append")
	var args []string
	for _, x := range kernelcmdline.Split(appendLine) {
		s := x.Name
		if x.HasValue {
			s += "=" + x.Value
		}
		args = append(args, s)
	}
	if !ok || !reflect.DeepEqual(args, hostileArgs) {
		t.Errorf("Linux splits append %q into %q, want %q", appendLine, args, hostileArgs)
	}
	if !strings.Contains(string(text), "\n  linux http://10.0.0.1:8080/d/vmlinuz?x=1&y=$z\n") {
		t.Errorf("built file has no linux line for the kernel:\n%s", text)
	}
}

func TestBuildPXELinuxRefuses(t *testing.T) {
	entry := func(mod func(*PXELinuxEntry)) PXELinuxSpec {
		e := PXELinuxEntry{Name: "a", Kernel: "vmlinuz"}
		mod(&e)
		return PXELinuxSpec{Entries: []PXELinuxEntry{e}}
	}
	for _, tc := range []struct {
		name  string
		spec  PXELinuxSpec
		field string
		want  string
	}{
		{"newline in arg", entry(func(e *PXELinuxEntry) { e.Args = []string{"x=a\nkernel evil"} }), "Entries[0].Args[0]", "control byte"},
		{"CR in kernel", entry(func(e *PXELinuxEntry) { e.Kernel = "vmlinuz\rx" }), "Entries[0].Kernel", "control byte"},
		{"tab in title", PXELinuxSpec{MenuTitle: "a\tb"}, "MenuTitle", "control byte"},
		{"space in kernel", entry(func(e *PXELinuxEntry) { e.Kernel = "vm linuz" }), "Entries[0].Kernel", "first word"},
		{"hash in kernel", entry(func(e *PXELinuxEntry) { e.Kernel = "fit.itb#conf" }), "Entries[0].Kernel", "FIT"},
		{"initrd= in kernel", entry(func(e *PXELinuxEntry) { e.Kernel = "x?initrd=evil" }), "Entries[0].Kernel", "initrd="},
		{"empty kernel", entry(func(e *PXELinuxEntry) { e.Kernel = "" }), "Entries[0].Kernel", "empty"},
		{"space in name", entry(func(e *PXELinuxEntry) { e.Name = "a b" }), "Entries[0].Name", "first word"},
		{"hash name", entry(func(e *PXELinuxEntry) { e.Name = "#a" }), "Entries[0].Name", "'#'"},
		{"comma initrd", entry(func(e *PXELinuxEntry) { e.Initrd = "a,b" }), "Entries[0].Initrd", "','"},
		{"trailing blank label", entry(func(e *PXELinuxEntry) { e.MenuLabel = "x " }), "Entries[0].MenuLabel", "blank"},
		{"caret label", entry(func(e *PXELinuxEntry) { e.MenuLabel = "^Install" }), "Entries[0].MenuLabel", "hot key"},
		{"double quote", entry(func(e *PXELinuxEntry) { e.Args = []string{`x=a"b`} }), "Entries[0].Args[0]", "double quote"},
		{"initrd= in arg", entry(func(e *PXELinuxEntry) { e.Args = []string{"x=yinitrd=evil"} }), "Entries[0].Args[0]", "initrd="},
		{"backslash", entry(func(e *PXELinuxEntry) { e.Args = []string{`x=a\b`} }), "Entries[0].Args[0]", "U-Boot removes"},
		{"single quote", entry(func(e *PXELinuxEntry) { e.Args = []string{`x='a'`} }), "Entries[0].Args[0]", "U-Boot removes"},
		{"env expansion", entry(func(e *PXELinuxEntry) { e.Args = []string{"x=${bootargs}"} }), "Entries[0].Args[0]", "expands"},
		{"final dollar", entry(func(e *PXELinuxEntry) { e.Args = []string{"x=a$"} }), "Entries[0].Args[0]", "expands"},
		{"hash first arg", entry(func(e *PXELinuxEntry) { e.Args = []string{"#x"} }), "Entries[0].Args[0]", "'#'"},
		{"dash", entry(func(e *PXELinuxEntry) { e.Args = []string{"-"} }), "Entries[0].Args", `"-"`},
		{"double dash", entry(func(e *PXELinuxEntry) { e.Args = []string{"a", "--", "b"} }), "Entries[0].Args[1]", "init"},
		{"bad name", entry(func(e *PXELinuxEntry) { e.Args = []string{"=x"} }), "Entries[0].Args[0]", "not one Linux argument"},
		{"default unknown", PXELinuxSpec{Default: "b", Entries: []PXELinuxEntry{{Name: "a", Kernel: "k"}}}, "Default", "no entry"},
		{"duplicate", PXELinuxSpec{Entries: []PXELinuxEntry{{Name: "a", Kernel: "k"}, {Name: "a", Kernel: "k"}}}, "Entries[1].Name", "two entries"},
		{"timeout", PXELinuxSpec{Timeout: -1}, "Timeout", "outside"},
		{"ipappend", entry(func(e *PXELinuxEntry) { e.IPAppend = 1 << 20 }), "Entries[0].IPAppend", "outside"},
		{"too long", entry(func(e *PXELinuxEntry) { e.Args = []string{"x=" + strings.Repeat("y", PXELinuxMaxLine)} }), "(file)", "longer than"},
	} {
		_, err := BuildPXELinux(tc.spec)
		var ve *PXELinuxValueError
		if !errors.As(err, &ve) || !errors.Is(err, ErrPXELinuxValue) || ve.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: BuildPXELinux = %v, want a PXELinuxValueError for %s with %q", tc.name, err, tc.field, tc.want)
		}
	}
	// A kernelcmdline refusal stays visible to errors.Is.
	_, err := BuildPXELinux(entry(func(e *PXELinuxEntry) { e.Args = []string{`x=a"b`} }))
	if !errors.Is(err, kernelcmdline.ErrQuote) {
		t.Errorf("BuildPXELinux with a double quote = %v, want it to wrap kernelcmdline.ErrQuote", err)
	}
}

func TestPXELinuxSpecNumbers(t *testing.T) {
	for _, src := range []string{"timeout 1x\n", "prompt\n", "label a\nipappend 0x2\n"} {
		f, err := ParsePXELinux([]byte(src))
		if err != nil {
			t.Fatalf("ParsePXELinux(%q): %v", src, err)
		}
		if _, err := f.Spec(); err == nil || !strings.Contains(err.Error(), "not a decimal number") {
			t.Errorf("Spec() of %q = %v, want a not-a-number error", src, err)
		}
	}
}
