package tftpserve

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxekit/pxekit/internal/pcaptest"
)

// capPkt is one TFTP packet of a capture, with a flag telling whether the
// client sent it.
type capPkt struct {
	payload  []byte
	toServer bool
}

// readTFTPCapture returns the TFTP packets of a capture (see
// internal/pcaptest) in order, from the first RRQ on. DATA payloads may be
// truncated in the file (make captures keeps their 4-byte header).
func readTFTPCapture(t *testing.T, name string) []capPkt {
	var out []capPkt
	var client netip.Addr
	for _, p := range pcaptest.Read(t, name) {
		if !p.UDP || len(p.Payload) < 2 {
			continue
		}
		op := Opcode(binary.BigEndian.Uint16(p.Payload))
		if p.Dst.Port() == 69 && op == OpRRQ {
			client = p.Src.Addr()
		}
		dhcp := p.Src.Port() == 67 || p.Dst.Port() == 67 || p.Src.Port() == 68 || p.Dst.Port() == 547 || p.Src.Port() == 547
		if !client.IsValid() || dhcp || op < OpRRQ || op > OpOACK {
			continue
		}
		out = append(out, capPkt{payload: p.Payload, toServer: p.Src.Addr() == client})
	}
	return out
}

// TestReplayOVMFCapture replays what OVMF's PXE sent in
// ovmf-pxe-tftp-windowsize4.pcapng (internal/pcaptest: atftpd 0.8.0, which
// granted windowsize 4): the size probe RRQ and its ERROR 8 byte for byte, then the
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
