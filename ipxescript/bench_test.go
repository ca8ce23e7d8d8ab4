package ipxescript

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// syntheticScript returns a deterministic script of about size bytes made
// of the line shapes seen in the corpus: comments, labels, menus, settings
// with nested expansions, chains with URLs, operators, indented lines,
// backslash continuations, CRLF line ends and an unclosed "${". The
// benchmarks use it so that a figure exists without ../shared.
func syntheticScript(size int) []byte {
	rng := rand.New(rand.NewPCG(13, 13))
	var b bytes.Buffer
	b.WriteString("#!ipxe\n\n# synthetic benchmark script\n")
	for n := 0; b.Len() < size; n++ {
		switch rng.IntN(14) {
		case 0:
			fmt.Fprintf(&b, "\n:menu%d\n", n)
		case 1:
			fmt.Fprintf(&b, "menu Boot menu %d for ${net0/mac} (${manufacturer:string})\n", n)
		case 2:
			fmt.Fprintf(&b, "item --key %c os%d       Boot operating system number %d\n", 'a'+byte(n%26), n, n)
		case 3:
			fmt.Fprintf(&b, "choose --timeout 5000 --default os%d target && goto ${target} || goto menu%d\n", n, n)
		case 4:
			fmt.Fprintf(&b, "set base-url http://boot%d.example.com/images/${arch}\n", n%7)
		case 5:
			fmt.Fprintf(&b, "chain --autofree ${base-url}/boot.ipxe?mac=${net0/mac:hexhyp}&uuid=${uuid} || goto failed\n")
		case 6:
			fmt.Fprintf(&b, "    kernel ${base-url}/vmlinuz initrd=initrd.img console=ttyS0,115200 \\\n        ip=dhcp root=/dev/nfs nfsroot=${next-server}:/srv/%d\r\n", n)
		case 7:
			fmt.Fprintf(&b, "isset ${ip} || dhcp net0 || goto retry%d # fall back\n", n)
		case 8:
			fmt.Fprintf(&b, "iseq ${platform} efi && set arch x86_64-efi || set arch i386 ; echo ${arch}\n")
		case 9:
			fmt.Fprintf(&b, "# ------------------------------ section %d ------------------------------\n", n)
		case 10:
			fmt.Fprintf(&b, "echo ${x${y${z}}} unclosed ${ brace } and $ alone\n")
		case 11:
			fmt.Fprintf(&b, "initrd http://${next-server}/initrd-%d.img\n", n)
		case 12:
			fmt.Fprintf(&b, "imgargs vmlinuz quiet splash --- ${extra-args}\n")
		default:
			fmt.Fprintf(&b, "sleep %d\n", n%10)
		}
	}
	return b.Bytes()
}

// TestSyntheticScript keeps the benchmark input honest: it parses, prints
// to something that parses to the same shape, and is deterministic.
func TestSyntheticScript(t *testing.T) {
	src := syntheticScript(64 << 10)
	if !bytes.Equal(src, syntheticScript(64<<10)) {
		t.Fatal("syntheticScript is not deterministic")
	}
	f, err := Parse(src, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Fprint(&out, f); err != nil {
		t.Fatal(err)
	}
	g, err := Parse(out.Bytes(), "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := shape(f), shape(g); strings.Join(a, "\n") != strings.Join(b, "\n") {
		diffLines(t, "shape", a, b)
	}
	if len(Lint(f)) == 0 {
		t.Error("lint found nothing in a script with an unclosed ${ and status traps")
	}
}

// BenchmarkParsePrintSynthetic measures parse + print throughput over a
// generated 1 MB script (bytes of input per second).
func BenchmarkParsePrintSynthetic(b *testing.B) {
	benchParsePrint(b, []corpusFile{{"synthetic", syntheticScript(1 << 20)}})
}

// BenchmarkLintSynthetic measures Lint over the parsed synthetic script.
func BenchmarkLintSynthetic(b *testing.B) {
	benchLint(b, []corpusFile{{"synthetic", syntheticScript(1 << 20)}})
}

// benchParsePrint parses and prints every file once per iteration.
func benchParsePrint(b *testing.B, files []corpusFile) {
	total := 0
	for _, cf := range files {
		total += len(cf.src)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	var out bytes.Buffer
	p := NewPrinter()
	for b.Loop() {
		for _, cf := range files {
			f, err := Parse(cf.src, cf.name)
			if err != nil {
				b.Fatal(err)
			}
			out.Reset()
			if err := p.Print(&out, f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchLint lints every parsed file once per iteration.
func benchLint(b *testing.B, files []corpusFile) {
	var parsed []*File
	total := 0
	for _, cf := range files {
		f, err := Parse(cf.src, cf.name)
		if err != nil {
			b.Fatal(err)
		}
		parsed = append(parsed, f)
		total += len(cf.src)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range parsed {
			Lint(f)
		}
	}
}
