package qemulab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/syncbuf"
)

// StartDnsmasq runs dnsmasq in ns until the test ends, as a lab's DHCP (and,
// with the right options, TFTP) server. Its configuration file, written to
// dir/dnsmasq.conf, has the options every lab needs (no DNS, bound to iface
// only, run as root, pid and lease files in dir, DHCP logged) and then the
// lines of extra, one "option=value" each. dnsmasq's log is printed when the
// test fails. Without dnsmasq the test is skipped (see netlab.RequireTool).
func StartDnsmasq(t testing.TB, ns *netlab.NS, iface, dir string, extra ...string) {
	t.Helper()
	dnsmasq := netlab.RequireTool(t, "dnsmasq")
	conf := append([]string{
		"port=0",
		"interface=" + iface,
		"bind-interfaces",
		"except-interface=lo",
		"user=root",
		"group=root",
		"pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		"dhcp-leasefile=" + filepath.Join(dir, "dnsmasq.leases"),
		"log-dhcp",
	}, extra...)
	confPath := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("qemulab: dnsmasq configuration: %v", err)
	}
	logf := &syncbuf.Buffer{}
	cmd := ns.Command(context.Background(), dnsmasq, "-k", "--log-facility=-", "--conf-file="+confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	ns.Track(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemulab: start dnsmasq in %s: %v", ns.Name, err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log (%s):\n%s", iface, logf.String())
		}
	})
}
