// Package fleetsim simulates a fleet of UEFI x86-64 machines network-booting
// from a proxyDHCP boot server (pxekit.Server in DHCPProxy mode, or
// examples/pxeserver -dhcp proxy), all in one process, so that a boot storm
// of thousands of machines can be measured on one host.
//
// Each simulated machine has its own MAC and IPv4 address and does what
// UEFI PXE firmware and then iPXE do against a proxyDHCP:
//
//  1. firmware DHCP: a DISCOVER (option 60 PXEClient:Arch:00007, option 93 =
//     7, a UUID) through the relay to port 67, answered by a proxy offer;
//     then a REQUEST to port 4011 with its address in ciaddr, answered by an
//     ACK naming the boot file;
//  2. the boot file over TFTP (RRQ with blksize, windowsize and tsize, read
//     whole and its size checked);
//  3. iPXE DHCP: the same two exchanges with user class "iPXE", answered
//     with the URL of the boot script;
//  4. the boot script over HTTP, then the per-machine script it chains
//     (BASE/machine/MAC?...), on one keep-alive connection.
//
// The machines sit behind one DHCP relay (Config.Relay): their DISCOVERs
// carry giaddr, so the server's offers come back unicast to the relay's
// port 67, where one socket hands each to its machine by transaction ID.
// No broadcast is sent. The machines' addresses must be local to the
// namespace the sockets are made in: on Linux a route
// `ip route add local PREFIX dev lo` makes a whole prefix local (each
// machine binds its own address), and the server needs a route back to it.
//
// The site's DHCP server (the one giving the addresses) is not simulated:
// machine i simply has address ClientBase+i.
package fleetsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Config describes the fleet and the server it boots from. Zero fields
// take the defaults named.
type Config struct {
	// Server is the boot server's IPv4 address (DHCP ports 67 and 4011;
	// TFTP at the next server its replies name). Required.
	Server netip.Addr
	// DHCPPort and ProxyPort are the server's DHCP ports (0: 67 and 4011).
	DHCPPort, ProxyPort int
	// Relay is the relay agent the machines sit behind: the giaddr of
	// their DISCOVERs, where the server sends its offers (port 67, which
	// the simulation binds). Required.
	Relay netip.Addr
	// ClientBase is machine 0's address; machine i has ClientBase+i.
	// Every address must be local where the sockets are made. Required.
	ClientBase netip.Addr
	// Machines is the fleet size (0: 1).
	Machines int
	// TFTPMachines is how many machines fetch the boot file over TFTP
	// (machines 0 to TFTPMachines-1); the others go from the firmware's
	// DHCP straight to iPXE's, to scale the TFTP load down on a small
	// host. 0 or more than Machines: every machine.
	TFTPMachines int
	// InFlight bounds the machines booting at once (0: 500), as a
	// stand-in for the waves in which a rack powers on.
	InFlight int
	// Ramp spreads the machines' power-on evenly over this long (0: all at
	// once, as InFlight lets them).
	Ramp time.Duration
	// BlockSize and WindowSize are the TFTP options asked for (0: 1468
	// and 16; a window of 1 asks for no windowsize).
	BlockSize, WindowSize int
	// Retransmit is how long a machine waits for an answer before it sends
	// again (0: 1 s); Tries bounds the sends of one step (0: 5).
	Retransmit time.Duration
	Tries      int
	// MachineTimeout bounds one machine's whole boot (0: 5 min).
	MachineTimeout time.Duration
	// MACPrefix is the first three bytes of every MAC (zero: 02:fe:e7, a
	// locally administered prefix); machine i's last three bytes are i.
	MACPrefix [3]byte
	// Do, when set, runs fn where the sockets must be made (inside a
	// network namespace: netlab's NS.Do); nil makes them directly.
	Do func(fn func() error) error
}

// Step names a part of a machine's boot, for errors and timings.
type Step int

// Steps of one machine's boot, in order.
const (
	StepDHCP   Step = iota // firmware DISCOVER and port-4011 REQUEST
	StepTFTP               // the boot file over TFTP
	StepIPXE               // iPXE's DISCOVER and port-4011 REQUEST
	StepScript             // the boot script and machine script over HTTP
	numSteps
)

var stepNames = [...]string{"dhcp", "tftp", "ipxe-dhcp", "http"}

// String returns the step's short name.
func (s Step) String() string {
	if s >= 0 && int(s) < len(stepNames) {
		return stepNames[s]
	}
	return "step(" + strconv.Itoa(int(s)) + ")"
}

// Result is what a Run measured.
type Result struct {
	// Machines is how many machines were started, TFTPMachines how many
	// of them fetched the boot file; Failed how many did not reach their
	// machine script.
	Machines, TFTPMachines, Failed int
	// Errors counts the failures by step and message (at most 20
	// distinct messages are kept).
	Errors map[string]int
	// Start is the first DISCOVER, End the last script received (or the
	// last failure).
	Start, End time.Time
	// Boot is each successful machine's boot time (first DISCOVER to its
	// machine script), sorted.
	Boot []time.Duration
	// Steps holds the successful machines' time in each step, sorted.
	Steps [numSteps][]time.Duration
	// DHCPSent counts the DHCP messages sent (retransmissions included),
	// DHCPReplies the replies matched to a machine.
	DHCPSent, DHCPReplies int64
	// TFTPBytes is the boot file bytes received; TFTPAcks the ACKs sent
	// (the last one repeated on a timeout included), TFTPTimeouts the
	// times a machine waited a whole Retransmit for DATA.
	TFTPBytes, TFTPAcks, TFTPTimeouts int64
	// HTTPRequests counts the HTTP responses received, HTTPBytes their
	// body bytes.
	HTTPRequests, HTTPBytes int64
}

// Elapsed is the fleet's boot time: first DISCOVER to last script.
func (r *Result) Elapsed() time.Duration { return r.End.Sub(r.Start) }

// Summary is a Result in figures, for a report or JSON: times in seconds.
type Summary struct {
	Machines, TFTPMachines, Failed int
	Errors                         map[string]int
	ElapsedSeconds                 float64
	BootP50, BootP99, BootMax      float64
	// StepP50 and StepP99 are by Step name.
	StepP50, StepP99        map[string]float64
	DHCPSent, DHCPReplies   int64
	TFTPBytes, TFTPAcks     int64
	TFTPTimeouts            int64
	HTTPRequests, HTTPBytes int64
	// CPUUserSeconds and CPUSysSeconds are the simulating process's, when
	// the caller fills them in.
	CPUUserSeconds, CPUSysSeconds float64
}

// Summary returns r's figures.
func (r *Result) Summary() Summary {
	sec := func(d time.Duration) float64 { return d.Seconds() }
	s := Summary{Machines: r.Machines, TFTPMachines: r.TFTPMachines, Failed: r.Failed, Errors: r.Errors,
		ElapsedSeconds: sec(r.Elapsed()), BootP50: sec(Percentile(r.Boot, 50)),
		BootP99: sec(Percentile(r.Boot, 99)), BootMax: sec(Percentile(r.Boot, 100)),
		StepP50: map[string]float64{}, StepP99: map[string]float64{},
		DHCPSent: r.DHCPSent, DHCPReplies: r.DHCPReplies, TFTPBytes: r.TFTPBytes, TFTPAcks: r.TFTPAcks,
		TFTPTimeouts: r.TFTPTimeouts, HTTPRequests: r.HTTPRequests, HTTPBytes: r.HTTPBytes}
	for st := range numSteps {
		s.StepP50[st.String()] = sec(Percentile(r.Steps[st], 50))
		s.StepP99[st.String()] = sec(Percentile(r.Steps[st], 99))
	}
	return s
}

// Percentile returns the p-th percentile (0–100) of d, which is sorted;
// 0 when d is empty.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(d)-1))
	return d[min(max(i, 0), len(d)-1)]
}

// MAC returns machine i's MAC under prefix.
func MAC(prefix [3]byte, i int) net.HardwareAddr {
	return net.HardwareAddr{prefix[0], prefix[1], prefix[2], byte(i >> 16), byte(i >> 8), byte(i)}
}

// Addr returns machine i's address: base + i.
func Addr(base netip.Addr, i int) netip.Addr {
	b := base.As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(i)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if !c.Server.Is4() || !c.Relay.Is4() || !c.ClientBase.Is4() {
		return c, errors.New("fleetsim: Config.Server, Relay and ClientBase must be IPv4 addresses")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.DHCPPort, dhcpv4.ServerPort)
	def(&c.ProxyPort, 4011)
	def(&c.Machines, 1)
	if c.Machines > 1<<24 {
		return c, fmt.Errorf("fleetsim: %d machines: at most %d (three MAC bytes)", c.Machines, 1<<24)
	}
	if c.TFTPMachines <= 0 || c.TFTPMachines > c.Machines {
		c.TFTPMachines = c.Machines
	}
	def(&c.InFlight, 500)
	def(&c.BlockSize, 1468)
	def(&c.WindowSize, 16)
	def(&c.Tries, 5)
	if c.BlockSize < 8 || c.BlockSize > 65464 {
		return c, fmt.Errorf("fleetsim: BlockSize %d: want 8 to 65464", c.BlockSize)
	}
	if c.WindowSize > 65535 {
		return c, fmt.Errorf("fleetsim: WindowSize %d: want at most 65535", c.WindowSize)
	}
	if c.Retransmit <= 0 {
		c.Retransmit = time.Second
	}
	if c.MachineTimeout <= 0 {
		c.MachineTimeout = 5 * time.Minute
	}
	if c.MACPrefix == [3]byte{} {
		c.MACPrefix = [3]byte{0x02, 0xfe, 0xe7}
	}
	if c.Do == nil {
		c.Do = func(fn func() error) error { return fn() }
	}
	return c, nil
}

// fleet is one Run's shared state.
type fleet struct {
	cfg   Config
	relay net.PacketConn
	srv67 *net.UDPAddr

	mu      sync.Mutex
	waiting map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4 // by transaction ID

	dhcpSent, dhcpReplies        atomic.Int64
	tftpBytes, tftpAcks, tftpTOs atomic.Int64
	httpRequests, httpBytes      atomic.Int64
	bufs                         sync.Pool
}

// Run boots the fleet and returns what it measured. It returns an error
// only when the simulation cannot run (a bad Config, the relay port
// taken); machines that fail to boot are counted in the Result. Canceling
// ctx fails the machines still booting.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &fleet{cfg: cfg, waiting: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{},
		srv67: net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.Server, uint16(cfg.DHCPPort)))}
	f.bufs.New = func() any { b := make([]byte, 4+max(cfg.BlockSize, 1500)); return &b }
	err = cfg.Do(func() (err error) {
		f.relay, err = net.ListenPacket("udp4", netip.AddrPortFrom(cfg.Relay, dhcpv4.ServerPort).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fleetsim: relay socket: %w", err)
	}
	if u, ok := f.relay.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(4 << 20)
	}
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); f.readRelay() }()
	defer func() { f.relay.Close(); <-readerDone }()

	type outcome struct {
		start, end time.Time
		steps      [numSteps]time.Duration
		step       Step
		err        error
	}
	outs := make([]outcome, cfg.Machines)
	sem := make(chan struct{}, cfg.InFlight)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range cfg.Machines {
		if cfg.Ramp > 0 {
			at := begin.Add(time.Duration(int64(cfg.Ramp) * int64(i) / int64(cfg.Machines)))
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil { // the machines not started fail
			now := time.Now()
			for j := i; j < cfg.Machines; j++ {
				outs[j] = outcome{start: now, end: now, step: StepDHCP, err: err}
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := &outs[i]
			mctx, cancel := context.WithTimeout(ctx, cfg.MachineTimeout)
			defer cancel()
			o.start = time.Now()
			o.step, o.err = f.boot(mctx, i, &o.steps)
			o.end = time.Now()
		}()
	}
	wg.Wait()

	r := &Result{Machines: cfg.Machines, TFTPMachines: cfg.TFTPMachines, Errors: map[string]int{}}
	for i := range outs {
		o := &outs[i]
		if r.Start.IsZero() || o.start.Before(r.Start) {
			r.Start = o.start
		}
		if o.end.After(r.End) {
			r.End = o.end
		}
		if o.err != nil {
			r.Failed++
			msg := o.step.String() + ": " + o.err.Error()
			if _, ok := r.Errors[msg]; ok || len(r.Errors) < 20 {
				r.Errors[msg]++
			} else {
				r.Errors["(other errors)"]++
			}
			continue
		}
		r.Boot = append(r.Boot, o.end.Sub(o.start))
		for s := range numSteps {
			if s == StepTFTP && i >= cfg.TFTPMachines {
				continue
			}
			r.Steps[s] = append(r.Steps[s], o.steps[s])
		}
	}
	sortDurations(r.Boot)
	for s := range r.Steps {
		sortDurations(r.Steps[s])
	}
	r.DHCPSent, r.DHCPReplies = f.dhcpSent.Load(), f.dhcpReplies.Load()
	r.TFTPBytes, r.TFTPAcks, r.TFTPTimeouts = f.tftpBytes.Load(), f.tftpAcks.Load(), f.tftpTOs.Load()
	r.HTTPRequests, r.HTTPBytes = f.httpRequests.Load(), f.httpBytes.Load()
	return r, nil
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }

// readRelay hands each offer arriving at the relay to the machine waiting
// for its transaction ID, until the socket closes.
func (f *fleet) readRelay() {
	buf := make([]byte, 1500)
	for {
		n, _, err := f.relay.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		f.mu.Lock()
		ch := f.waiting[m.TransactionID]
		f.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default: // a duplicate answer to a retransmission
			}
		}
	}
}

// boot runs machine i's boot and returns the step that failed and why.
func (f *fleet) boot(ctx context.Context, i int, steps *[numSteps]time.Duration) (Step, error) {
	cfg := f.cfg
	m := machine{f: f, i: i, mac: MAC(cfg.MACPrefix, i), ip: Addr(cfg.ClientBase, i)}
	m.uuid[0], m.uuid[13], m.uuid[14], m.uuid[15] = 0xfe, byte(i>>16), byte(i>>8), byte(i)
	t := time.Now()
	lap := func(s Step) {
		now := time.Now()
		steps[s] = now.Sub(t)
		t = now
	}
	ack, err := m.dhcp(ctx, false)
	if err != nil {
		return StepDHCP, err
	}
	lap(StepDHCP)
	if i < cfg.TFTPMachines {
		if ack.BootFileName == "" {
			return StepTFTP, fmt.Errorf("the ACK names no boot file (rule %q)", ack.ServerHostName)
		}
		next := ack.ServerIPAddr
		if next == nil || next.IsUnspecified() {
			next = f.cfg.Server.AsSlice()
		}
		nextAddr, _ := netip.AddrFromSlice(next.To4())
		if err := m.tftp(ctx, nextAddr, ack.BootFileName); err != nil {
			return StepTFTP, err
		}
	}
	lap(StepTFTP)
	ack, err = m.dhcp(ctx, true)
	if err != nil {
		return StepIPXE, err
	}
	lap(StepIPXE)
	if err := m.http(ctx, ack.BootFileName); err != nil {
		return StepScript, err
	}
	lap(StepScript)
	return StepScript, nil
}

// machine is one simulated machine.
type machine struct {
	f    *fleet
	i    int
	mac  net.HardwareAddr
	ip   netip.Addr
	uuid [16]byte
}

// request builds machine m's DHCP message of type typ, as UEFI firmware or
// (ipxe) iPXE sends it.
func (m *machine) request(typ dhcpv4.MessageType, ipxe bool) (*dhcpv4.DHCPv4, error) {
	arch := iana.EFI_X86_64
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003016", arch))),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3, 16}),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, m.uuid[:]...)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionVendorSpecificInformation,
			dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName, dhcpv4.OptionClassIdentifier),
	}
	if ipxe {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")),
			dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(175), []byte{0x13, 1, 1, 0x11, 1, 1, 0x19, 1, 1}))
	}
	d, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(m.mac)}, mods...)...)
	if err != nil {
		return nil, err
	}
	if typ == dhcpv4.MessageTypeDiscover {
		d.GatewayIPAddr = m.f.cfg.Relay.AsSlice()
		d.HopCount = 1
	} else {
		d.ClientIPAddr = m.ip.AsSlice()
	}
	return d, nil
}

// dhcp runs one DHCP round as a PXE client beside a proxyDHCP: the
// DISCOVER through the relay answered by an offer, then the REQUEST to
// port 4011 answered by an ACK, which it returns.
func (m *machine) dhcp(ctx context.Context, ipxe bool) (*dhcpv4.DHCPv4, error) {
	f := m.f
	disc, err := m.request(dhcpv4.MessageTypeDiscover, ipxe)
	if err != nil {
		return nil, err
	}
	ch := make(chan *dhcpv4.DHCPv4, 1)
	xid := disc.TransactionID
	f.mu.Lock()
	if f.waiting[xid] != nil {
		f.mu.Unlock()
		return nil, errors.New("transaction ID in use") // 1 in 2^32 per pair
	}
	f.waiting[xid] = ch
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.waiting, xid)
		f.mu.Unlock()
	}()
	offer, err := m.exchange(ctx, "offer", func() error {
		_, err := f.relay.WriteTo(disc.ToBytes(), f.srv67)
		return err
	}, func(dl time.Time) (*dhcpv4.DHCPv4, error) {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		select {
		case r := <-ch:
			return r, nil
		case <-t.C:
			return nil, errTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		return nil, err
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer {
		return nil, fmt.Errorf("answer to DISCOVER is a %s, want an OFFER", offer.MessageType())
	}
	req, err := m.request(dhcpv4.MessageTypeRequest, ipxe)
	if err != nil {
		return nil, err
	}
	req.TransactionID = disc.TransactionID // one transaction, as EDK2 and iPXE do
	var conn net.PacketConn
	if err := f.cfg.Do(func() (err error) {
		conn, err = net.ListenPacket("udp4", netip.AddrPortFrom(m.ip, 0).String())
		return err
	}); err != nil {
		return nil, fmt.Errorf("port-4011 socket: %w", err)
	}
	defer conn.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.cfg.Server, uint16(f.cfg.ProxyPort)))
	buf := make([]byte, 1500)
	ack, err := m.exchange(ctx, "port-4011 ACK", func() error {
		_, err := conn.WriteTo(req.ToBytes(), to)
		return err
	}, func(dl time.Time) (*dhcpv4.DHCPv4, error) {
		_ = conn.SetReadDeadline(dl)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					return nil, errTimeout
				}
				return nil, err
			}
			r, err := dhcpv4.FromBytes(buf[:n])
			if err == nil && r.TransactionID == req.TransactionID {
				return r, nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck {
		return nil, fmt.Errorf("answer to the port-4011 REQUEST is a %s, want an ACK", ack.MessageType())
	}
	return ack, nil
}

// errTimeout is a wait of one Retransmit that got no answer.
var errTimeout = errors.New("timeout")

// exchange sends and waits for an answer, up to Tries times.
func (m *machine) exchange(ctx context.Context, what string, send func() error, recv func(time.Time) (*dhcpv4.DHCPv4, error)) (*dhcpv4.DHCPv4, error) {
	f := m.f
	for range f.cfg.Tries {
		if err := send(); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		f.dhcpSent.Add(1)
		r, err := recv(time.Now().Add(f.cfg.Retransmit))
		if err == nil {
			f.dhcpReplies.Add(1)
			return r, nil
		}
		if err != errTimeout {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no %s after %d tries %v apart", what, f.cfg.Tries, f.cfg.Retransmit)
}

// http fetches the boot script at script (the iPXE ACK's boot file) and
// the machine script it chains, on one connection from the machine's
// address.
func (m *machine) http(ctx context.Context, script string) error {
	f := m.f
	u, err := url.Parse(script)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("iPXE was told %q, want an http:// script URL", script)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = f.cfg.Do(func() error {
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(m.ip, 0))}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	get := func(u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", "iPXE/1.21.1+ (g0000000)")
		resp, err := cl.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		f.httpRequests.Add(1)
		f.httpBytes.Add(int64(len(body)))
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		if !bytes.HasPrefix(body, []byte("#!ipxe")) {
			return nil, fmt.Errorf("GET %s: not an iPXE script: %.40q", u, body)
		}
		return body, nil
	}
	body, err := get(script)
	if err != nil {
		return err
	}
	// The built-in boot script chains BASE/machine/${net0/mac:hexhyp}?...;
	// the simulation fills in what iPXE would.
	i := bytes.Index(body, []byte("/machine/"))
	if i < 0 {
		return nil // a script of the site's own: it was the last step
	}
	base, _, ok := strings.Cut(script, "/boot.ipxe")
	if !ok {
		base = u.Scheme + "://" + u.Host
	}
	hyp := strings.ReplaceAll(m.mac.String(), ":", "-")
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", m.uuid[0:4], m.uuid[4:6], m.uuid[6:8], m.uuid[8:10], m.uuid[10:16])
	_, err = get(base + "/machine/" + hyp + "?mac=" + hyp + "&buildarch=x86_64&platform=efi&uuid=" + uuid + "&chip=virtio-net")
	return err
}
