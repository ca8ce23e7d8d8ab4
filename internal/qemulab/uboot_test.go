package qemulab

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScanUBoot: console output splits at line ends and after U-Boot's
// prompt and autoboot countdown, which end no line.
func TestScanUBoot(t *testing.T) {
	in := "U-Boot 2023.01\r\nHit any key to stop autoboot:  2 \b\b\b 1=> dhcp\r\nBOOTP broadcast 1\n=> "
	sc := bufio.NewScanner(iotest.OneByteReader(strings.NewReader(in))) // as a serial line delivers it
	sc.Split(scanUBoot)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	want := []string{"U-Boot 2023.01", "", "Hit any key to stop autoboot:", "  2 \b\b\b 1=> ", "dhcp", "", "BOOTP broadcast 1", "=> "}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scanUBoot tokens = %q, want %q", got, want)
	}
}
