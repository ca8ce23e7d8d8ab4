package kernelcmdline

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []Arg
	}{
		{"  a=1 b  c=\"x y\"\t\"d=e f\" g=\"h", []Arg{
			{"a", "1", true}, {"b", "", false}, {"c", "x y", true}, {"d", "e f", true}, {"g", "h", true}}},
		{"hostname=a b;c", []Arg{{"hostname", "a", true}, {"b;c", "", false}}},
		{"x=\"a\"b\" y", []Arg{{"x", "a\"b\" y", true}}}, // no escape for "
		{"k=a\xa0b", []Arg{{"k", "a", true}, {"b", "", false}}},
		{"a -- b=c", []Arg{{"a", "", false}}},
		{"e= f=\"\"", []Arg{{"e", "", true}, {"f", "", true}}},
	}
	for _, tt := range tests {
		if got := Split(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
