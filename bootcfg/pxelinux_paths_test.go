package bootcfg

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"github.com/pxekit/pxekit/tftpserve"
)

func TestPXELinuxPaths(t *testing.T) {
	mac := net.HardwareAddr{0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD}
	// pxelinux.txt's own example: UUID b8945908-d6a6-41a9-611d-74a6ab80b83d,
	// MAC 88:99:AA:BB:CC:DD, IP 192.168.2.91.
	uuid := []byte{0xb8, 0x94, 0x59, 0x08, 0xd6, 0xa6, 0x41, 0xa9, 0x61, 0x1d, 0x74, 0xa6, 0xab, 0x80, 0xb8, 0x3d}
	ip := netip.MustParseAddr("192.168.2.91")
	want := []string{
		"pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d",
		"pxelinux.cfg/01-88-99-aa-bb-cc-dd",
		"pxelinux.cfg/C0A8025B", "pxelinux.cfg/C0A8025", "pxelinux.cfg/C0A802", "pxelinux.cfg/C0A80",
		"pxelinux.cfg/C0A8", "pxelinux.cfg/C0A", "pxelinux.cfg/C0", "pxelinux.cfg/C",
		"pxelinux.cfg/default",
	}
	if got := PXELinuxPaths(mac, uuid, ip); !reflect.DeepEqual(got, want) {
		t.Errorf("PXELinuxPaths = %q\nwant %q", got, want)
	}
	// A UUID whose version nibble byte is 0x00 or 0xFx is skipped, as
	// PXELINUX's is_valid_uuid does; no IPv4 address, no hex names.
	bad := slices.Clone(uuid)
	bad[6] = 0x0f
	got := PXELinuxPaths(mac, bad, netip.MustParseAddr("fd00::1"))
	if want := []string{"pxelinux.cfg/01-88-99-aa-bb-cc-dd", "pxelinux.cfg/default"}; !reflect.DeepEqual(got, want) {
		t.Errorf("PXELinuxPaths(invalid UUID, IPv6) = %q, want %q", got, want)
	}
}

func TestUBootPXEPaths(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x21}
	ip := netip.MustParseAddr("10.77.0.100")
	got := UBootPXEPaths(mac, "", ip, "arm", "", "")
	want := []string{
		"pxelinux.cfg/01-52-54-00-77-00-21",
		"pxelinux.cfg/0A4D0064", "pxelinux.cfg/0A4D006", "pxelinux.cfg/0A4D00", "pxelinux.cfg/0A4D0",
		"pxelinux.cfg/0A4D", "pxelinux.cfg/0A4", "pxelinux.cfg/0A", "pxelinux.cfg/0",
		"pxelinux.cfg/default-arm", "pxelinux.cfg/default",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UBootPXEPaths(qemu_arm64) = %q\nwant %q", got, want)
	}
	got = UBootPXEPaths(mac, "my-uuid", ip, "arm", "rk3399", "evb")
	if got[0] != "pxelinux.cfg/my-uuid" || !slices.Equal(got[len(got)-4:], []string{
		"pxelinux.cfg/default-arm-rk3399-evb", "pxelinux.cfg/default-arm-rk3399", "pxelinux.cfg/default-arm", "pxelinux.cfg/default",
	}) {
		t.Errorf("UBootPXEPaths(pxeuuid, soc, board) = %q", got)
	}
}

// tftpGet fetches name from the server at addr with the pin/tftp client;
// a refusal comes back as "error: code N".
func tftpGet(t *testing.T, addr, name string) string {
	t.Helper()
	c, err := pintftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	c.SetRetries(3)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		code, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), "code: "), ",")
		return "error: code " + code
	}
	var b strings.Builder
	if _, err := wt.WriteTo(&b); err != nil {
		return "error: " + err.Error()
	}
	return b.String()
}

// serveTFTP serves h on a loopback port until the test ends.
func serveTFTP(t *testing.T, h tftpserve.Handler) string {
	t.Helper()
	srv := &tftpserve.Server{Handler: h}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return pc.LocalAddr().String()
}

// TestPXELinuxHandler serves one generated per-MAC file over real TFTP on
// loopback: every name the client's loaders try gets it (the MAC comes from
// the name or from ClientMAC), another machine's 01-<mac> name is refused,
// other files go to Next.
func TestPXELinuxHandler(t *testing.T) {
	mine := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x21}
	other := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x99}
	built, err := BuildPXELinux(PXELinuxSpec{Default: "a", Entries: []PXELinuxEntry{{Name: "a", Kernel: "vmlinuz", Args: []string{"x=a b"}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := built.String()
	var (
		mu   sync.Mutex
		seen []PXELinuxRequest
	)
	h := &PXELinuxHandler{
		Dir: "boot",
		Config: func(r PXELinuxRequest) (*PXELinux, error) {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
			if slices.Equal(r.MAC, mine) {
				return built, nil
			}
			return nil, nil
		},
		ClientMAC: func(a netip.Addr) (net.HardwareAddr, bool) {
			return mine, a == netip.MustParseAddr("127.0.0.1")
		},
		Next: tftpserve.FS(fstest.MapFS{"boot/vmlinuz": {Data: []byte("kernel")}}),
	}
	addr := serveTFTP(t, h)

	uuid := []byte{0xb8, 0x94, 0x59, 0x08, 0xd6, 0xa6, 0x41, 0xa9, 0x61, 0x1d, 0x74, 0xa6, 0xab, 0x80, 0xb8, 0x3d}
	names := append(PXELinuxPaths(mine, uuid, netip.MustParseAddr("127.0.0.1")), UBootPXEPaths(mine, "", netip.MustParseAddr("127.0.0.1"), "arm", "", "")...)
	for _, n := range names {
		if got := tftpGet(t, addr, "boot/"+n); got != want {
			t.Errorf("GET boot/%s = %q, want the generated file %q", n, got, want)
		}
	}
	if got := tftpGet(t, addr, "boot/pxelinux.cfg/01-52-54-00-77-00-99"); got != "error: code 1" {
		t.Errorf("GET another machine's 01-<mac> = %q, want error: code 1", got)
	}
	if got := tftpGet(t, addr, "boot/vmlinuz"); got != "kernel" {
		t.Errorf("GET boot/vmlinuz through Next = %q, want kernel", got)
	}
	if got := tftpGet(t, addr, "pxelinux.cfg/default"); got != "error: code 1" {
		t.Errorf("GET pxelinux.cfg/default outside Dir = %q, want Next's error: code 1", got)
	}
	mu.Lock()
	var byKind = map[string]PXELinuxRequest{}
	for _, r := range seen {
		byKind[r.Name] = r
	}
	if r := byKind["b8945908-d6a6-41a9-611d-74a6ab80b83d"]; r.UUID != r.Name || !slices.Equal(r.MAC, mine) {
		t.Errorf("UUID request = %+v, want UUID set and MAC from ClientMAC", r)
	}
	if r := byKind["7F000001"]; r.IP != netip.MustParseAddr("127.0.0.1") || r.Client != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("hex IP request = %+v, want IP 127.0.0.1", r)
	}
	for _, r := range seen {
		if slices.Equal(r.MAC, other) {
			t.Errorf("Config was asked for another machine's MAC: %+v", r)
		}
	}

	mu.Unlock()

	// Without ClientMAC, names carry the only MAC there is.
	h2 := *h
	h2.ClientMAC = nil
	addr = serveTFTP(t, &h2)
	if got := tftpGet(t, addr, "boot/pxelinux.cfg/default"); got != "error: code 1" {
		t.Errorf("GET default without ClientMAC = %q, want error: code 1 (Config returns nil)", got)
	}
	if got := tftpGet(t, addr, "boot/pxelinux.cfg/01-52-54-00-77-00-21"); got != want {
		t.Errorf("GET 01-<mac> without ClientMAC = %q, want %q", got, want)
	}
}
