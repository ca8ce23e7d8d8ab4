package tftpserve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/pxekit/pxekit/internal/shared"
)

// capturedTFTP returns the UDP payloads of a pcapng in order, with a flag
// telling whether the server (port 69 side) sent it.
type capPkt struct {
	payload  []byte
	toServer bool
}

func readTFTPCapture(t *testing.T, name string) []capPkt {
	p := filepath.Join(shared.Path(t), "captures", name)
	f, err := os.Open(p)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("capture missing: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []capPkt
	var client string
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udpL, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || pkt.NetworkLayer() == nil {
			continue
		}
		src := pkt.NetworkLayer().NetworkFlow().Src().String()
		pl := udpL.Payload
		if len(pl) < 2 {
			continue
		}
		op := Opcode(binary.BigEndian.Uint16(pl))
		if udpL.DstPort == 69 && op == OpRRQ {
			client = src
		}
		if client == "" || (udpL.SrcPort != 69 && udpL.DstPort != 69 && udpL.SrcPort < 1024 && udpL.DstPort < 1024) {
			continue
		}
		if op < OpRRQ || op > OpOACK || udpL.SrcPort == 67 || udpL.DstPort == 67 || udpL.SrcPort == 68 {
			continue
		}
		out = append(out, capPkt{payload: append([]byte(nil), pl...), toServer: src == client})
	}
	return out
}

// TestReplayOVMFCapture replays what OVMF's PXE sent in
// captures/ovmf-pxe-tftp-windowsize4.pcapng (a server that granted
// windowsize 4): the size probe RRQ and its ERROR 8 byte for byte, then the
// read RRQ, ACKing like OVMF (every 4th block). Our OACKs must carry the
// same options in the same order as the captured server's, and the file
// must take as many DATA packets.
func TestReplayOVMFCapture(t *testing.T) {
	pkts := readTFTPCapture(t, "ovmf-pxe-tftp-windowsize4.pcapng")
	var rrqs, oacks [][]byte
	var abort []byte
	dataPkts := 0
	var size int64
	for _, p := range pkts {
		op := Opcode(binary.BigEndian.Uint16(p.payload))
		switch {
		case p.toServer && op == OpRRQ:
			rrqs = append(rrqs, p.payload)
		case p.toServer && op == OpERROR && abort == nil:
			abort = p.payload
		case !p.toServer && op == OpOACK:
			oacks = append(oacks, p.payload)
		case !p.toServer && op == OpDATA && len(rrqs) == 2:
			dataPkts++
		}
	}
	if len(rrqs) < 2 || len(oacks) < 2 || abort == nil {
		t.Fatalf("capture: %d RRQs, %d OACKs, abort %v", len(rrqs), len(oacks), abort != nil)
	}
	first, _ := parsePacket(oacks[0])
	for _, o := range first.options {
		if o.Name == "tsize" {
			size, _ = parseSize(o.Value)
		}
	}
	data := randBytes(int(size), 77)
	logs := newInfoLog()
	addr := startServer(t, &Server{Handler: FS(fstest.MapFS{"ipxe.efi": {Data: data}}), OnTransfer: logs.hook,
		MinRetransmit: time.Second, Timeout: 2 * time.Second}, "udp4") // exact sequence: no retransmissions

	c := newTestClient(t, addr)
	c.sendTo(addr, rrqs[0])
	got := c.expect(OpOACK)
	if fmt.Sprint(got.options) != fmt.Sprint(first.options) {
		t.Fatalf("probe OACK %v, captured server sent %v", got.options, first.options)
	}
	c.sendTo(c.tid, abort)
	if info := logs.next(t); info.Outcome != OutcomeSizeProbe {
		t.Fatalf("probe: %+v", info)
	}

	c.tid = netip0()
	c.sendTo(addr, rrqs[1])
	got = c.expect(OpOACK)
	second, _ := parsePacket(oacks[1])
	if fmt.Sprint(got.options) != fmt.Sprint(second.options) {
		t.Fatalf("read OACK %v, captured server sent %v", got.options, second.options)
	}
	c.ack(0)
	var body []byte
	n := 0
	for blk := uint16(1); ; blk++ {
		p, _, ok := c.recv(3 * time.Second)
		if !ok || p.op != OpDATA || p.block != blk {
			t.Fatalf("block %d: got %v %d (ok %v)", blk, p.op, p.block, ok)
		}
		n++
		body = append(body, p.data...)
		if len(p.data) < 1468 {
			c.ack(blk)
			break
		}
		if blk%4 == 0 {
			c.ack(blk)
		}
	}
	if string(body) != string(data) || n != dataPkts {
		t.Fatalf("%d bytes in %d DATA; want %d bytes in %d as captured", len(body), n, len(data), dataPkts)
	}
	if info := logs.next(t); info.Outcome != OutcomeOK || info.Retransmits != 0 {
		t.Fatalf("read: %+v", info)
	}
}

func netip0() (z netip.AddrPort) { return }
