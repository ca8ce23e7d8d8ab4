package pxekit_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit"
)

// bootDiscover builds the DISCOVER of a booting client: arch, vendor
// class ("PXEClient" or "HTTPClient") and, for iPXE, user class "iPXE".
func bootDiscover(t *testing.T, mac string, arch iana.Arch, vendor string, ipxe bool) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("%s:Arch:%05d:UNDI:003010", vendor, arch))),
	}
	if ipxe {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
	}
	m, err := dhcpv4.NewDiscovery(hw, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exchange sends m from a fresh loopback socket to server and returns the
// reply with m's transaction ID.
func exchange(t *testing.T, server net.Addr, m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteTo(m.ToBytes(), server); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no reply to %s from %s: %v", m.MessageType(), server, err)
		}
		r, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && r.TransactionID == m.TransactionID {
			return r
		}
	}
}

// httpGetFrom fetches url from the local address from (127.0.0.0/8), as
// the machine leased that address would.
func httpGetFrom(t *testing.T, from netip.Addr, url string) string {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s from %s: %s", url, from, resp.Status)
	}
	return string(b)
}

// eventLog keeps the events a Server raises.
type eventLog struct {
	mu     sync.Mutex
	events []pxekit.Event
}

func (l *eventLog) add(e pxekit.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// stages returns the StageEvents of mac as "via:from→to" strings.
func (l *eventLog) stages(mac net.HardwareAddr) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if s, ok := e.(pxekit.StageEvent); ok && s.MAC.String() == mac.String() {
			out = append(out, fmt.Sprintf("%s:%s→%s", s.Via, s.From, s.To))
		}
	}
	return out
}

// A program that already runs its own net/http server and its own DHCP
// server (insomniacslk's server4, giving addresses itself) embeds
// pxekit.Server: the Server's HTTP handler on its mux under /pxe/, its
// boot data added to the program's DHCP replies (CoreDHCP4), its TFTP
// server on the program's socket. The session table ties each DHCP client
// to its HTTP and TFTP fetches by the address the program leased.
func TestServerEmbedded(t *testing.T) {
	var events eventLog
	// The program's own sockets: loopback, unprivileged ports.
	web, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dhcpConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tftpConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + web.Addr().String() + "/pxe"
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: base, Files: "testdata/boot", OnEvent: events.add}
	defer srv.Close()

	// Its own HTTP server: pxekit mounted beside its own routes.
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.Handle("/pxe/", srv.HTTPHandler())
	hs := &http.Server{Handler: mux}
	go hs.Serve(web)
	defer hs.Close()

	// Its own TFTP socket, served by the Server's TFTP part.
	ts := srv.TFTPServer()
	go ts.Serve(tftpConn)
	defer ts.Close()

	// Its own DHCP server: it gives the addresses, pxekit the boot data.
	leases := map[string]net.IP{"52:54:00:00:00:01": net.IPv4(127, 0, 0, 7), "52:54:00:00:00:02": net.IPv4(127, 0, 0, 1)}
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		typ := dhcpv4.MessageTypeOffer
		if m.MessageType() == dhcpv4.MessageTypeRequest {
			typ = dhcpv4.MessageTypeAck
		}
		resp, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(typ), dhcpv4.WithYourIP(leases[m.ClientHWAddr.String()]),
			dhcpv4.WithServerIP(net.IPv4(127, 0, 0, 1)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(127, 0, 0, 1))))
		if err != nil {
			return
		}
		if resp, drop := srv.CoreDHCP4(m, resp); !drop {
			conn.WriteTo(resp.ToBytes(), peer)
		}
	}
	s4, err := server4.NewServer("", nil, handler, server4.WithConn(dhcpConn))
	if err != nil {
		t.Fatal(err)
	}
	go s4.Serve()
	defer s4.Close()

	if got := httpGetFrom(t, netip.MustParseAddr("127.0.0.1"), "http://"+web.Addr().String()+"/healthz"); got != "ok" {
		t.Fatalf("the program's own route: %q", got)
	}

	// Machine 1: UEFI HTTP boot, then iPXE, then its script.
	m1 := netip.MustParseAddr("127.0.0.7")
	r := exchange(t, dhcpConn.LocalAddr(), bootDiscover(t, "52:54:00:00:00:01", iana.EFI_X86_64_HTTP, "HTTPClient", false))
	if want := base + "/ipxe.efi"; r.BootFileName != want {
		t.Fatalf("HTTP boot client got boot file %q, want %q (the boot files on the script's base URL)", r.BootFileName, want)
	}
	if got := httpGetFrom(t, m1, r.BootFileName); !strings.HasPrefix(got, "not a real ipxe.efi") {
		t.Fatalf("GET %s = %q", r.BootFileName, got)
	}
	r = exchange(t, dhcpConn.LocalAddr(), bootDiscover(t, "52:54:00:00:00:01", iana.EFI_X86_64, "PXEClient", true))
	if !strings.HasPrefix(r.BootFileName, base+"/boot.ipxe?") {
		t.Fatalf("iPXE got boot file %q, want the script URL under %s", r.BootFileName, base)
	}
	// The script fetched without the MAC in the query: only the leased
	// address ties it to the machine.
	if got := httpGetFrom(t, m1, base+"/boot.ipxe"); !strings.HasPrefix(got, "#!ipxe") {
		t.Fatalf("GET boot.ipxe = %q", got)
	}

	// Machine 2: BIOS PXE, boot file over TFTP from the program's socket.
	r = exchange(t, dhcpConn.LocalAddr(), bootDiscover(t, "52:54:00:00:00:02", iana.INTEL_X86PC, "PXEClient", false))
	if r.BootFileName != "undionly.kpxe" {
		t.Fatalf("BIOS client got boot file %q, want undionly.kpxe", r.BootFileName)
	}
	if b, err := tftpGet(tftpConn.LocalAddr().String(), r.BootFileName); err != nil || !strings.HasPrefix(string(b), "not a real undionly.kpxe") {
		t.Fatalf("TFTP %s = %q, %v", r.BootFileName, b, err)
	}

	mac1, _ := net.ParseMAC("52:54:00:00:00:01")
	mac2, _ := net.ParseMAC("52:54:00:00:00:02")
	s1, ok := srv.Sessions().ByMAC(mac1)
	if !ok || s1.IP != m1 || s1.Stage != pxekit.StageScript || s1.LastFile != "/pxe/boot.ipxe" || s1.Rule == "" {
		t.Errorf("session of machine 1 = %+v (found %v), want IP %v, stage script, last file /pxe/boot.ipxe", s1, ok, m1)
	}
	if got, want := strings.Join(events.stages(mac1), " "), "dhcp:unknown→dhcp http:dhcp→bootfile dhcp:bootfile→ipxe http:ipxe→script"; got != want {
		t.Errorf("stage events of machine 1: %s\nwant %s", got, want)
	}
	// The TFTP server reports a transfer once the client's last ACK is in:
	// just after the client has its file.
	waitFor(func() bool { s, _ := srv.Sessions().ByMAC(mac2); return s.Stage == pxekit.StageBootFile })
	s2, ok := srv.Sessions().ByMAC(mac2)
	if !ok || s2.Stage != pxekit.StageBootFile || s2.LastFile != "undionly.kpxe" || s2.Client.Firmware != "bios" {
		t.Errorf("session of machine 2 = %+v (found %v), want stage bootfile after its TFTP fetch", s2, ok)
	}
	if got, want := strings.Join(events.stages(mac2), " "), "dhcp:unknown→dhcp tftp:dhcp→bootfile"; got != want {
		t.Errorf("stage events of machine 2: %s\nwant %s", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("TFTP Shutdown: %v", err)
	}
}

// waitFor polls cond until it holds or 10 seconds have passed.
func waitFor(cond func() bool) {
	for deadline := time.Now().Add(10 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}
