//go:build bench

package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// dhcpServer is a DHCP server under test in the server namespace on srv0.
type dhcpServer struct {
	name string
	argv func(tmp string) []string
}

func dhcpServers(t *testing.T, mode string) []dhcpServer {
	bin := abs(t, binDir())
	var s []dhcpServer
	if err := fileExists(filepath.Join(bin, "pxkdhcp")); err == nil {
		s = append(s, dhcpServer{"pxekit", func(string) []string {
			return []string{filepath.Join(bin, "pxkdhcp"), "-iface", "srv0", "-mode", mode}
		}})
	} else {
		// bench/run.sh builds it: a table without pxekit is a failed run.
		t.Errorf("pxekit DHCP not measured: %v", err)
	}
	s = append(s, dhcpServer{"dnsmasq", func(tmp string) []string {
		argv := []string{"/usr/sbin/dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=srv0", "--bind-interfaces",
			"--user=root", "--group=root", "--pid-file=", "--quiet-dhcp", "--log-facility=/dev/null",
			"--dhcp-leasefile=" + filepath.Join(tmp, "leases"), "--dhcp-lease-max=100000"}
		if mode == "proxy" {
			return append(argv, "--dhcp-range=10.99.0.0,proxy", "--pxe-service=x86PC,boot,undionly",
				"--pxe-service=X86-64_EFI,boot,ipxe.efi", "--dhcp-no-override")
		}
		return append(argv, "--dhcp-range=10.99.0.10,10.99.0.250,1h", "--dhcp-boot=undionly.kpxe", "--dhcp-authoritative", "--no-ping")
	}})
	return s
}

var (
	reRate     = regexp.MustCompile(`Rate: ([0-9.]+) (.+?)/second`)
	reSent     = regexp.MustCompile(`sent packets: (\d+)`)
	reReceived = regexp.MustCompile(`received packets: (\d+)`)
	reDrops    = regexp.MustCompile(`drops: (\d+)`)
	reAvgDelay = regexp.MustCompile(`avg delay: ([0-9.]+) ms`)
)

type perfResult struct {
	rate           float64
	sent, received int
	drops          int
	avgDelayMS     float64
}

func parsePerfdhcp(out []byte) (perfResult, error) {
	var r perfResult
	m := reRate.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no rate in perfdhcp output: %s", out)
	}
	r.rate, _ = strconv.ParseFloat(string(m[1]), 64)
	// The first statistics block is the DISCOVER-OFFER exchange.
	if m := reSent.FindSubmatch(out); m != nil {
		r.sent, _ = strconv.Atoi(string(m[1]))
	}
	if m := reReceived.FindSubmatch(out); m != nil {
		r.received, _ = strconv.Atoi(string(m[1]))
	}
	if m := reDrops.FindSubmatch(out); m != nil {
		r.drops, _ = strconv.Atoi(string(m[1]))
	}
	if m := reAvgDelay.FindSubmatch(out); m != nil {
		r.avgDelayMS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	return r, nil
}

func TestDHCPPerf(t *testing.T) {
	l := newLab(t)
	pxeVendor := hex.EncodeToString([]byte("PXEClient:Arch:00007:UNDI:003016"))
	seconds := envInt("BENCH_DHCP_SECONDS", 5)
	for _, mode := range []string{"proxy", "lab"} {
		section := fmt.Sprintf("DHCP: %s mode, perfdhcp (kea-admin) on veth, PXE DISCOVERs with options 60 and 93", mode)
		if mode == "lab" {
			section = "DHCP: lab mode (full DORA), perfdhcp, 200 clients, options 60 and 93"
		}
		results.printf(section, "| requested rate/s | server | achieved exchanges/s | sent | received | drops | drop %% | avg delay | lost in server's buffer | lost in perfdhcp's buffer |\n|---|---|---|---|---|---|---|---|---|---|\n")
		rates := []int{1000, 2000, 4000, 8000, 16000}
		for _, rate := range rates {
			for _, srv := range dhcpServers(t, mode) {
				tmp := t.TempDir()
				argv := srv.argv(tmp)
				cmd := l.pair.Server.Command(context.Background(), argv[0], argv[1:]...)
				var sout bytes.Buffer
				cmd.Stdout, cmd.Stderr = &sout, &sout
				l.pair.Server.Track(cmd)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				args := []string{"perfdhcp", "-4", "-l", "cli0", "-r", strconv.Itoa(rate), "-p", strconv.Itoa(seconds),
					"-o", "60," + pxeVendor, "-o", "93,0007", "-W", "500000"}
				if mode == "proxy" {
					args = append(args, "-i", "-R", "10000")
				} else {
					args = append(args, "-R", "200")
				}
				srvBuf0, cliBuf0 := udpRcvbufErrors(t, l.pair.Server), udpRcvbufErrors(t, l.pair.Client)
				_, out, err := runTimed(l.pair.Client, time.Duration(seconds+30)*time.Second, args...)
				srvBuf, cliBuf := udpRcvbufErrors(t, l.pair.Server)-srvBuf0, udpRcvbufErrors(t, l.pair.Client)-cliBuf0
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				res, perr := parsePerfdhcp(out)
				if perr != nil {
					t.Logf("%s %s rate %d: %v %v; server: %s", srv.name, mode, rate, err, perr, sout.String())
					results.printf(section, "| %d | %s | FAIL | | | | | | | |\n", rate, srv.name)
					continue
				}
				pct := 0.0
				if res.sent > 0 {
					pct = 100 * float64(res.drops) / float64(res.sent)
				}
				results.printf(section, "| %d | %s | %.0f | %d | %d | %d | %.3f %% | %.3f ms | %d | %d |\n", rate, srv.name, res.rate, res.sent, res.received, res.drops, pct, res.avgDelayMS, srvBuf, cliBuf)
			}
		}
		if mode == "proxy" {
			results.printf(section, "\nTarget: offers/s ≥ dnsmasq's with ≤ 0.01 %% drops. Up to the rate where both keep up,\nachieved rates are equal (perfdhcp paces them); the highest rate shows which saturates first.\nThe last two columns are the UDP RcvbufErrors of each namespace during the run: datagrams\nthe kernel dropped because the server's or perfdhcp's socket buffer was full.\n")
		} else {
			results.printf(section, "\nNo target for lab mode; it is shown beside dnsmasq's full DHCP for comparison.\n")
		}
	}
	_ = os.Remove(filepath.Join(l.out, "probe"))
}

// udpRcvbufErrors returns the UDP RcvbufErrors counter of ns (/proc/net/snmp
// read inside it).
func udpRcvbufErrors(t *testing.T, ns *netlab.NS) int {
	out, err := ns.Command(context.Background(), "cat", "/proc/net/snmp").Output()
	if err != nil {
		t.Logf("read /proc/net/snmp in %s: %v", ns.Name, err)
		return 0
	}
	var head []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i := range f {
			if i < len(head) && head[i] == "RcvbufErrors" {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	return 0
}
