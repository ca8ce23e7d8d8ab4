package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
)

const (
	// maxPacket bounds one captured packet (pcap snaplen is at most 256 KiB
	// in libpcap; anything bigger is a broken file).
	maxPacket = 256 << 10
	// maxBlock bounds one pcapng block, which is held in memory whole
	// while it is checked. Packet blocks are bounded by maxPacket; this
	// leaves room for big option, name resolution or secrets blocks.
	maxBlock = 16 << 20
)

// errNotCapture is returned for input that is not a capture.
var errNotCapture = errors.New("not a pcap or pcapng capture")

// dumper prints client messages found in a capture.
type dumper struct {
	out, errOut io.Writer
	json        bool
	dec         *decoder
	// policy decides what each client would boot: dhcpboot's default
	// policy, the one examples/pxeserver is built on.
	policy *dhcpboot.Policy
	// server expands {{server}} in boot file templates; when invalid,
	// boot files are printed as templates.
	server netip.Addr
}

// packetSource is what pcapgo's two readers have in common here.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// dump reads a capture as it streams in and prints its DHCP client
// messages: the format is checked from the first bytes, and packets are
// read one at a time, so memory does not grow with the input. It returns an
// error only when the input cannot be read, or not as a capture at all.
func (d *dumper) dump(r io.Reader) error {
	in := &readErr{r: r}
	src, linkType, blocks, err := openCapture(bufio.NewReader(in))
	if in.err != nil {
		return in.err
	}
	if err != nil {
		return err
	}
	for frame := 1; ; frame++ {
		pkt, ci, err := readPacket(src)
		if in.err != nil {
			return in.err
		}
		if errors.Is(err, io.EOF) {
			if blocks != nil && blocks.err != nil {
				d.warn("pcapng: %v; stopping there", blocks.err)
			}
			return nil
		}
		if err != nil {
			d.warn("frame %d: %v; stopping", frame, err)
			return nil
		}
		lt := linkType
		if len(ci.AncillaryData) > 0 {
			if t, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = t
			}
		}
		d.packet(frame, ci.Timestamp, lt, pkt)
	}
}

// readErr passes reads through and keeps the first error other than
// io.EOF, which pcapgo may report as a broken capture instead.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// readPacket reads the next packet, turning a panic inside pcapgo (it
// divides by a zero timestamp resolution from a broken interface block, for
// one) into an error, so that a broken file ends the dump cleanly.
func readPacket(src packetSource) (data []byte, ci gopacket.CaptureInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("broken capture: pcapgo: %v", p)
		}
	}()
	return src.ReadPacketData()
}

func (d *dumper) warn(format string, args ...any) {
	fmt.Fprintf(d.errOut, "pxedump: "+format+"\n", args...)
}

// openCapture recognises pcap (either byte order, µs or ns) and pcapng by
// their magic numbers in the first four bytes, and refuses anything else
// before reading further. For pcapng it also returns the block checker
// that pcapgo reads through.
func openCapture(r *bufio.Reader) (src packetSource, lt layers.LinkType, blocks *ngBlocks, err error) {
	defer func() {
		if p := recover(); p != nil {
			src, err = nil, fmt.Errorf("broken capture header: pcapgo: %v", p)
		}
	}()
	magic, _ := r.Peek(4)
	if len(magic) < 4 {
		return nil, 0, nil, errNotCapture
	}
	switch binary.BigEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("pcap: %w", err)
		}
		pr.SetSnaplen(maxPacket) // bounds what one record can make us allocate
		return pr, pr.LinkType(), nil, nil
	case 0x0a0d0d0a:
		blocks := &ngBlocks{r: r}
		nr, err := pcapgo.NewNgReader(blocks, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			if blocks.err != nil {
				err = blocks.err
			}
			return nil, 0, nil, fmt.Errorf("pcapng: %w", err)
		}
		return nr, nr.LinkType(), blocks, nil
	}
	return nil, 0, nil, errNotCapture
}

// ngBlocks passes a pcapng stream on block by block, each block checked
// whole before any of it is read out: pcapgo trusts the lengths inside
// packet blocks and would allocate whatever a broken file says. At the
// first bad block Read reports io.EOF, and err says what was wrong; the
// blocks before it are read normally.
type ngBlocks struct {
	r     io.Reader
	order binary.ByteOrder // of the current section
	off   int64            // input offset of the next block
	buf   bytes.Buffer     // the current block
	rest  []byte           // what of it is not read out yet
	err   error            // the first bad block
}

func (b *ngBlocks) Read(p []byte) (int, error) {
	if len(b.rest) == 0 {
		if b.err != nil {
			return 0, io.EOF
		}
		if err := b.next(); err != nil {
			if err != io.EOF {
				b.err = err
			}
			return 0, io.EOF
		}
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

// next reads and checks the next block; io.EOF means a clean end.
func (b *ngBlocks) next() error {
	off := b.off
	var hdr [12]byte
	if n, err := io.ReadFull(b.r, hdr[:]); err != nil {
		if n == 0 && err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("block at offset %d: truncated header", off)
	}
	typ := binary.LittleEndian.Uint32(hdr[:]) // 0x0a0d0d0a reads the same either way
	if typ == 0x0a0d0d0a {
		switch {
		case binary.LittleEndian.Uint32(hdr[8:]) == 0x1a2b3c4d:
			b.order = binary.LittleEndian
		case binary.BigEndian.Uint32(hdr[8:]) == 0x1a2b3c4d:
			b.order = binary.BigEndian
		default:
			return fmt.Errorf("section at offset %d: bad byte-order magic", off)
		}
	} else {
		if b.order == nil {
			return fmt.Errorf("block at offset %d: no section header before it", off)
		}
		typ = b.order.Uint32(hdr[:])
	}
	n := int64(b.order.Uint32(hdr[4:]))
	min := int64(12)
	if typ == 0x0a0d0d0a {
		min = 28
	}
	if n < min || n%4 != 0 || n > maxBlock {
		return fmt.Errorf("block at offset %d: bad length %d", off, n)
	}
	b.buf.Reset()
	b.buf.Write(hdr[:])
	if _, err := io.CopyN(&b.buf, b.r, n-12); err != nil {
		return fmt.Errorf("block at offset %d: truncated (%d bytes announced)", off, n)
	}
	data := b.buf.Bytes()
	if b.order.Uint32(data[n-4:]) != uint32(n) {
		return fmt.Errorf("block at offset %d: trailing length does not match", off)
	}
	var capLen int64 = -1
	switch typ {
	case 6, 2: // enhanced packet, obsolete packet: 20 bytes of fields then data
		if n < 32 {
			return fmt.Errorf("packet block at offset %d: too short", off)
		}
		capLen = int64(b.order.Uint32(data[20:])) + 32
	case 3: // simple packet: original length then data
		if n < 16 {
			return fmt.Errorf("packet block at offset %d: too short", off)
		}
		capLen = int64(b.order.Uint32(data[8:])) + 16
	case 1: // interface description: link type, reserved, snaplen
		if n < 20 {
			return fmt.Errorf("interface block at offset %d: too short", off)
		}
	}
	if capLen > n || capLen > maxPacket+32 {
		return fmt.Errorf("packet block at offset %d: captured length exceeds the block", off)
	}
	b.rest = data
	b.off += n
	return nil
}

// decoder decodes just the layers a DHCP message can sit under: Ethernet
// (with 802.1Q tags), Linux cooked capture, raw IPv4/IPv6, then UDP. Other
// protocols are not decoded at all, which keeps odd frames cheap.
type decoder struct {
	eth    layers.Ethernet
	dot1q  layers.Dot1Q
	sll    layers.LinuxSLL
	ip4    layers.IPv4
	ip6    layers.IPv6
	udp    layers.UDP
	pay    gopacket.Payload
	found  []gopacket.LayerType
	byLink map[layers.LinkType]*gopacket.DecodingLayerParser
}

func newDecoder() *decoder {
	d := &decoder{byLink: map[layers.LinkType]*gopacket.DecodingLayerParser{}}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll, &d.ip4, &d.ip6, &d.udp, &d.pay)
		p.IgnoreUnsupported = true
		return p
	}
	d.byLink[layers.LinkTypeEthernet] = mk(layers.LayerTypeEthernet)
	d.byLink[layers.LinkTypeLinuxSLL] = mk(layers.LayerTypeLinuxSLL)
	d.byLink[layers.LinkTypeIPv4] = mk(layers.LayerTypeIPv4)
	d.byLink[layers.LinkTypeIPv6] = mk(layers.LayerTypeIPv6)
	ipAny := mk(layers.LayerTypeIPv4)
	d.byLink[layers.LinkTypeRaw] = ipAny
	d.byLink[12] = ipAny // LINKTYPE_RAW as some BSDs write it
	return d
}

// udp returns the UDP layer of a frame, the Ethernet source when there is
// one, and ok == false when the frame holds no whole UDP datagram.
func (d *decoder) decode(lt layers.LinkType, data []byte) (udp *layers.UDP, ethSrc net.HardwareAddr, ok bool) {
	p, known := d.byLink[lt]
	if !known {
		return nil, nil, false
	}
	if p == d.byLink[layers.LinkTypeRaw] && len(data) > 0 && data[0]>>4 == 6 {
		p = d.byLink[layers.LinkTypeIPv6]
	}
	d.found = d.found[:0]
	_ = p.DecodeLayers(data, &d.found) // a truncated frame simply yields fewer layers
	for _, t := range d.found {
		switch t {
		case layers.LayerTypeEthernet:
			ethSrc = d.eth.SrcMAC
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return nil, nil, false // fragments carry no whole UDP payload
			}
		case layers.LayerTypeUDP:
			return &d.udp, ethSrc, true
		}
	}
	return nil, nil, false
}

// packet prints the DHCP client message a frame holds, if any.
func (d *dumper) packet(frame int, ts time.Time, lt layers.LinkType, data []byte) {
	if d.dec == nil {
		d.dec = newDecoder()
	}
	udp, ethSrc, ok := d.dec.decode(lt, data)
	if !ok {
		return
	}
	var rec record
	switch udp.DstPort {
	case 67:
		m, err := dhcpv4.FromBytes(udp.Payload)
		if err != nil {
			d.warn("frame %d: malformed DHCPv4 packet: %v", frame, err)
			return
		}
		if m.OpCode != dhcpv4.OpcodeBootRequest {
			return
		}
		rec = d.newRecord(archdetect.FromDHCPv4(m), m.MessageType().String())
	case 547:
		m, err := dhcpv6.FromBytes(udp.Payload)
		if err != nil {
			d.warn("frame %d: malformed DHCPv6 packet: %v", frame, err)
			return
		}
		if !fromClient(m) {
			return // a Relay-Reply on its way to a relay, or a server message
		}
		c := archdetect.FromDHCPv6(m)
		if c.MAC == nil && !c.Relayed && len(ethSrc) == 6 {
			// DUID-UUID and DUID-EN carry no MAC; the frame's sender is the client.
			c.MAC = ethSrc
		}
		rec = d.newRecord(c, innerType(m))
	default:
		return
	}
	rec.Frame = frame
	if !ts.IsZero() {
		rec.Time = ts.UTC().Format(time.RFC3339Nano)
	}
	d.print(rec)
}

// fromClient reports whether m is a client message, maybe relayed.
func fromClient(m dhcpv6.DHCPv6) bool {
	if m.Type() == dhcpv6.MessageTypeRelayForward {
		r, ok := m.(*dhcpv6.RelayMessage)
		if !ok {
			return false
		}
		in, err := r.GetInnerMessage()
		if err != nil || in == nil {
			return true // let archdetect report what is wrong with it
		}
		m = in
	}
	switch m.Type() {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeConfirm,
		dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeRelease,
		dhcpv6.MessageTypeDecline, dhcpv6.MessageTypeInformationRequest:
		return true
	}
	return false
}

// innerType names the client message inside any relay wrapping.
func innerType(m dhcpv6.DHCPv6) string {
	if r, ok := m.(*dhcpv6.RelayMessage); ok {
		if in, err := r.GetInnerMessage(); err == nil && in != nil {
			return in.MessageType.String()
		}
	}
	return m.Type().String()
}

func (d *dumper) print(rec record) {
	if d.json {
		b, err := json.Marshal(rec)
		if err != nil {
			d.warn("frame %d: %v", rec.Frame, err)
			return
		}
		d.out.Write(append(b, '\n'))
		return
	}
	fmt.Fprintln(d.out, rec.text())
}

// record is one output line.
type record struct {
	Frame        int      `json:"frame"`
	Time         string   `json:"time,omitempty"`
	Proto        string   `json:"proto"`
	MAC          string   `json:"mac"`
	MsgType      string   `json:"msg_type"`
	Arch         *int     `json:"arch"`
	Archs        []int    `json:"archs"`
	ArchName     string   `json:"arch_name"`
	Firmware     string   `json:"firmware"`
	CPU          string   `json:"cpu"`
	Transport    string   `json:"transport"`
	IPXE         bool     `json:"ipxe"`
	IPXEFeatures []string `json:"ipxe_features"`
	IPXEVersion  string   `json:"ipxe_version"`
	VendorClass  string   `json:"vendor_class"`
	UserClass    []string `json:"user_class"`
	UUID         string   `json:"uuid"`
	UNDI         string   `json:"undi"`
	Relayed      bool     `json:"relayed"`
	Rule         string   `json:"rule"`
	Bootfile     string   `json:"bootfile"`
	Problems     []string `json:"problems,omitempty"`
}

// newRecord describes client c and what the policy decides for it.
func (d *dumper) newRecord(c archdetect.Client, msgType string) record {
	r := record{
		Proto:        string(c.Source),
		MAC:          c.MAC.String(),
		MsgType:      msgType,
		Archs:        []int{},
		ArchName:     c.ArchName,
		Firmware:     string(c.Firmware),
		CPU:          string(c.CPU),
		Transport:    string(c.Transport),
		IPXE:         c.IPXE,
		IPXEFeatures: c.IPXEInfo.FeatureNames(),
		IPXEVersion:  c.IPXEInfo.VersionString(),
		VendorClass:  c.VendorClass.Raw,
		UserClass:    c.UserClasses,
		UUID:         c.UUID,
		Relayed:      c.Relayed,
		Problems:     c.Problems,
	}
	if r.UserClass == nil {
		r.UserClass = []string{}
	}
	if c.HasArch {
		a := int(c.Arch)
		r.Arch = &a
	}
	for _, a := range c.Archs {
		r.Archs = append(r.Archs, int(a))
	}
	if c.HasUNDI {
		r.UNDI = fmt.Sprintf("%d.%d", c.UNDI.Major, c.UNDI.Minor)
	}
	r.Rule, r.Bootfile = d.decide(c)
	return r
}

// decide returns the name of the rule of d.policy that boots c and the boot
// file it hands out, expanded for d.server (the template itself when no
// server is set); both are empty when no rule boots c. A rule may boot a
// client with no boot file (U-Boot gets a next server and option 209).
func (d *dumper) decide(c archdetect.Client) (rule, file string) {
	r := dhcpboot.Request{Client: c, ServerIP: d.server}
	dec := d.policy.Decide(&r)
	if !dec.Boot() {
		return "", ""
	}
	if !d.server.IsValid() {
		return dec.RuleName(), dec.BootFile().String()
	}
	return dec.RuleName(), dec.BootFile().Expand(&r)
}

// text is the one-line human form.
func (r record) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s %s", r.Frame, r.Proto, r.MsgType, orDash(r.MAC))
	if r.Arch != nil {
		fmt.Fprintf(&b, " arch=%d (%s)", *r.Arch, r.ArchName)
	} else {
		b.WriteString(" arch=none")
	}
	fmt.Fprintf(&b, " %s/%s/%s", r.Firmware, r.CPU, r.Transport)
	if r.IPXE {
		fmt.Fprintf(&b, " ipxe=%s[%s]", orDash(r.IPXEVersion), strings.Join(r.IPXEFeatures, ","))
	}
	if r.VendorClass != "" {
		fmt.Fprintf(&b, " vc=%q", r.VendorClass)
	}
	if len(r.UserClass) > 0 {
		fmt.Fprintf(&b, " uc=%q", r.UserClass)
	}
	if r.UNDI != "" {
		fmt.Fprintf(&b, " undi=%s", r.UNDI)
	}
	if r.UUID != "" {
		fmt.Fprintf(&b, " uuid=%s", r.UUID)
	}
	if r.Relayed {
		b.WriteString(" relayed")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, " problem=%q", p)
	}
	fmt.Fprintf(&b, " -> %s", orDash(r.Rule))
	if r.Bootfile != "" {
		fmt.Fprintf(&b, " %s", r.Bootfile)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
