package bootcfg

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"strings"

	"github.com/pxekit/pxekit/tftpserve"
)

// PXELinuxDir is the directory, next to the boot file, both loaders look
// for configuration files in.
const PXELinuxDir = "pxelinux.cfg"

// PXELinuxPaths returns the configuration file names PXELINUX 6 tries, in
// order, relative to its path prefix (the boot file's directory, or
// DHCP option 210): core/fs/pxe/pxe.c, pxe_open_config, after the file
// DHCP option 209 names (tried first when the client got one):
//
//   - pxelinux.cfg/<uuid>: the client UUID of DHCP option 97 (its 16
//     bytes as sent, uuid), in lower-case hex grouped 4-2-2-2-6 bytes
//     (core/sysappend.c, sysappend_set_uuid), only when its byte 6 is in
//     0x10…0xEF (is_valid_uuid); nil for none;
//   - pxelinux.cfg/01-<mac>: the ARP hardware type (01, Ethernet) and
//     the MAC in lower-case hex with dashes;
//   - pxelinux.cfg/<hex IP>: the IPv4 address in 8 upper-case hex digits,
//     then with one digit fewer each time down to 1 (C0A80A0B, C0A80A0,
//     …, C); none when ip is not IPv4;
//   - pxelinux.cfg/default.
func PXELinuxPaths(mac net.HardwareAddr, uuid []byte, ip netip.Addr) []string {
	var out []string
	if len(uuid) == 16 && uuid[6] >= 0x10 && uuid[6] < 0xf0 {
		u := hex.EncodeToString(uuid)
		out = append(out, PXELinuxDir+"/"+u[:8]+"-"+u[8:12]+"-"+u[12:16]+"-"+u[16:20]+"-"+u[20:])
	}
	if len(mac) > 0 {
		out = append(out, PXELinuxDir+"/"+pxlMACName(mac))
	}
	out = append(out, pxlHexIP(ip)...)
	return append(out, PXELinuxDir+"/default")
}

// UBootPXEPaths returns the configuration file names U-Boot's "pxe get"
// tries, in order (cmd/pxe.c, pxe_get; 2023.01 and later), relative to
// the boot file's directory:
//
//   - pxelinux.cfg/<pxeuuid>, when the environment variable pxeuuid is
//     set (U-Boot does not take it from DHCP); "" for none;
//   - pxelinux.cfg/01-<mac>, as PXELINUX (format_mac_pxe, ethaddr);
//   - pxelinux.cfg/<hex IP>, 8 upper-case hex digits down to 1, as
//     PXELINUX (pxe_ipaddr_paths);
//   - pxelinux.cfg/default-<arch>-<soc>-<board> (when soc and board are
//     set), default-<arch>-<soc> (when soc is set), default-<arch>,
//     default (pxe_default_paths).
//
// arch, soc and board are the board's CONFIG_SYS_ARCH, CONFIG_SYS_SOC and
// CONFIG_SYS_BOARD: arch is "arm" for 32- and 64-bit ARM alike, "riscv",
// "x86", "mips", "powerpc"; QEMU's virt boards (qemu_arm64, qemu_arm) set
// no SoC, so they ask for default-arm then default. An empty arch leaves
// out the default-<arch>… names.
func UBootPXEPaths(mac net.HardwareAddr, pxeuuid string, ip netip.Addr, arch, soc, board string) []string {
	var out []string
	if pxeuuid != "" {
		out = append(out, PXELinuxDir+"/"+pxeuuid)
	}
	if len(mac) > 0 {
		out = append(out, PXELinuxDir+"/"+pxlMACName(mac))
	}
	out = append(out, pxlHexIP(ip)...)
	if arch != "" {
		if soc != "" {
			if board != "" {
				out = append(out, PXELinuxDir+"/default-"+arch+"-"+soc+"-"+board)
			}
			out = append(out, PXELinuxDir+"/default-"+arch+"-"+soc)
		}
		out = append(out, PXELinuxDir+"/default-"+arch)
	}
	return append(out, PXELinuxDir+"/default")
}

// pxlMACName is 01-aa-bb-cc-dd-ee-ff.
func pxlMACName(mac net.HardwareAddr) string {
	var b strings.Builder
	b.WriteString("01")
	for _, c := range mac {
		fmt.Fprintf(&b, "-%02x", c)
	}
	return b.String()
}

// pxlHexIP returns pxelinux.cfg/<hex IP> and its prefixes down to one
// digit.
func pxlHexIP(ip netip.Addr) []string {
	if !ip.Is4() && !ip.Is4In6() {
		return nil
	}
	a := ip.Unmap().As4()
	h := strings.ToUpper(hex.EncodeToString(a[:]))
	var out []string
	for n := 8; n >= 1; n-- {
		out = append(out, PXELinuxDir+"/"+h[:n])
	}
	return out
}

// PXELinuxRequest is a request for a configuration file, as
// PXELinuxHandler passes it to its Config function.
type PXELinuxRequest struct {
	// Name is the name asked for under pxelinux.cfg/, as sent:
	// "01-52-54-00-12-34-56", "C0A80A0B", "default-arm", a UUID…
	Name string
	// Client is the client's address (the TFTP request's source).
	Client netip.Addr
	// MAC is the MAC address a 01-<mac> name holds; otherwise the one
	// PXELinuxHandler.ClientMAC gives for Client, or nil.
	MAC net.HardwareAddr
	// UUID is set when Name has a UUID's shape (lower case).
	UUID string
	// IP is set when Name is 8 hex digits: the IPv4 address it spells.
	IP netip.Addr
	// TFTP is the request itself.
	TFTP *tftpserve.Request
}

// PXELinuxHandler is a tftpserve.Handler that serves per-client
// PXELINUX/extlinux configuration files made by a function: requests for
// <Dir>/pxelinux.cfg/<name> go to Config, everything else to Next. A
// loader asks for several names in turn (PXELinuxPaths, UBootPXEPaths);
// each request for which Config returns no file is refused with "file not
// found", so the loader goes on to its next name.
//
// The names a client asks for are no proof of who it is: any client can
// ask for 01-<another machine's MAC>. With ClientMAC set, a 01-<mac> name
// that is not the MAC ClientMAC knows for the asking address is refused.
type PXELinuxHandler struct {
	// Dir is the loaders' path prefix relative to the TFTP root: the
	// directory of the boot file they were given ("" for the root).
	Dir string
	// Config returns the file to serve for r; nil (and no error) means
	// none. An error is logged and refused as "file not found".
	Config func(r PXELinuxRequest) (*PXELinux, error)
	// ClientMAC, if set, returns the MAC address of the client at an IP
	// address (from the DHCP server's leases), so that Config learns it
	// for names that carry none (UUID, hex IP, default…).
	ClientMAC func(netip.Addr) (net.HardwareAddr, bool)
	// Next serves every other request (kernels, initrds); nil refuses
	// them with "file not found".
	Next tftpserve.Handler
	// Logger gets a debug record per configuration served or refused;
	// nil logs nothing.
	Logger *slog.Logger
}

// logger returns h.Logger, or a logger that discards everything when it
// is nil.
func (h *PXELinuxHandler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// ServeTFTP serves a configuration file or passes the request to Next.
func (h *PXELinuxHandler) ServeTFTP(w tftpserve.ResponseWriter, r *tftpserve.Request) {
	name, ok := h.configName(r.Path)
	if !ok {
		if h.Next == nil {
			w.WriteError(tftpserve.ErrNotFound)
			return
		}
		h.Next.ServeTFTP(w, r)
		return
	}
	log := h.logger().With("file", r.Path, "client", r.RemoteAddr.Addr())
	req, ok := h.request(name, r)
	if !ok {
		log.Debug("pxelinux config refused: the MAC in the name is not the client's")
		w.WriteError(tftpserve.ErrNotFound)
		return
	}
	f, err := h.Config(req)
	if err == nil && f == nil {
		log.Debug("no pxelinux config for this name")
		w.WriteError(tftpserve.ErrNotFound)
		return
	}
	var b []byte
	if err == nil {
		b, err = f.Format()
	}
	if err != nil {
		log.Warn("pxelinux config failed", "err", err)
		w.WriteError(tftpserve.ErrNotFound)
		return
	}
	log.Debug("pxelinux config served", "bytes", len(b))
	if err := w.ServeContent(bytes.NewReader(b), int64(len(b))); err != nil {
		log.Debug("pxelinux config transfer failed", "err", err)
	}
}

// configName returns the name under Dir/pxelinux.cfg/ that p asks for.
func (h *PXELinuxHandler) configName(p string) (string, bool) {
	dir := path.Join(strings.Trim(h.Dir, "/"), PXELinuxDir) + "/"
	if len(p) <= len(dir) || !strings.EqualFold(p[:len(dir)], dir) {
		return "", false
	}
	name := p[len(dir):]
	return name, !strings.Contains(name, "/")
}

// request describes a request for name; false when the name's MAC is
// not the one ClientMAC knows for the client.
func (h *PXELinuxHandler) request(name string, r *tftpserve.Request) (PXELinuxRequest, bool) {
	req := PXELinuxRequest{Name: name, Client: r.RemoteAddr.Addr().Unmap(), TFTP: r}
	var known net.HardwareAddr
	if h.ClientMAC != nil {
		known, _ = h.ClientMAC(req.Client)
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(lower, "01-"):
		mac, err := net.ParseMAC(lower[3:])
		if err == nil && strings.Count(lower, "-") == len(mac) {
			if known != nil && !bytes.Equal(known, mac) {
				return req, false
			}
			req.MAC = mac
		}
	case len(name) == 8 && pxlIsHex(name):
		b, _ := hex.DecodeString(name)
		req.IP = netip.AddrFrom4([4]byte(b))
	case len(lower) == 36 && pxlIsHex(strings.ReplaceAll(lower, "-", "")) &&
		lower[8] == '-' && lower[13] == '-' && lower[18] == '-' && lower[23] == '-':
		req.UUID = lower
	}
	if req.MAC == nil {
		req.MAC = known
	}
	return req, true
}

// pxlIsHex reports whether s is hex digits only.
func pxlIsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
