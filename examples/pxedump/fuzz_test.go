package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// fuzzSeeds returns small captures holding one real DHCP client message
// each (the first DHCPv4 DISCOVER of bios-ipxe-rom-http, the first DHCPv6
// Solicit of the no-answer capture), as pcap and as pcapng. Small seeds keep
// the fuzzer's minimisation quick.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, s := range []struct {
		name string
		port uint16
	}{{"bios-ipxe-rom-http.pcapng", 67}, {"ovmf-no-dhcpv4-answer-dhcpv6.pcapng", 547}} {
		data, ci := firstFrame(t, s.name, s.port)
		var p bytes.Buffer
		w := pcapgo.NewWriter(&p)
		if w.WriteFileHeader(65535, layers.LinkTypeEthernet) == nil && w.WritePacket(ci, data) == nil {
			seeds = append(seeds, p.Bytes())
		}
		var ng bytes.Buffer
		if nw, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet); err == nil {
			ci.InterfaceIndex = 0
			if nw.WritePacket(ci, data) == nil && nw.Flush() == nil {
				seeds = append(seeds, ng.Bytes())
			}
		}
	}
	return seeds
}

// FuzzDump feeds arbitrary bytes to the capture reader and decoder: any
// input must give output lines and/or an error, never a panic, a hang or a
// huge allocation.
func FuzzDump(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		d := &dumper{out: &out, errOut: io.Discard, json: len(b)%2 == 0}
		_ = d.dump(bytes.NewReader(b))
		if out.Len() > 0 && out.Bytes()[out.Len()-1] != '\n' {
			t.Fatal("output does not end in a newline")
		}
	})
}

func TestFuzzSeedsDecode(t *testing.T) {
	seeds := fuzzSeeds(t)
	if len(seeds) != 4 {
		t.Fatalf("%d seeds, want 4", len(seeds))
	}
	for i, s := range seeds {
		code, out, errOut := runCmd(t, bytes.NewReader(s), "-json")
		if ls := parseLines(t, out); code != 0 || errOut != "" || len(ls) != 1 {
			t.Errorf("seed %d: exit %d, stderr %q, %d lines", i, code, errOut, len(ls))
		}
	}
}
