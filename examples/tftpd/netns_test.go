package main

import (
	"context"
	"crypto/sha256"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// TestMTUClampInNamespace runs tftpd in a network namespace behind a veth
// pair and checks that blksize is clamped to the link MTU (MTU−32 for IPv4,
// MTU−52 for IPv6) when atftp asks for 65464, and that the file arrives.
func TestMTUClampInNamespace(t *testing.T) {
	netlab.Require(t)
	atftp := netlab.RequireTool(t, "atftp")
	bin := buildTftpd(t)
	root := t.TempDir()
	os.Chmod(root, 0o755)
	data := make([]byte, 300_000)
	rand.New(rand.NewSource(2)).Read(data)
	os.WriteFile(filepath.Join(root, "f"), data, 0o644)

	p := netlab.NewPair(t)
	p.Server.Run(t, "ip", "-6", "addr", "add", "fd00:99::1/64", "dev", p.ServerIf, "nodad")
	p.Client.Run(t, "ip", "-6", "addr", "add", "fd00:99::2/64", "dev", p.ClientIf, "nodad")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := p.Server.Command(ctx, bin, "-root", root, "-addr", ":69", "-log-json")
	stderr, _ := cmd.StderrPipe()
	p.Server.Track(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	next := jsonLogLines(t, stderr)
	if m := next(); m["msg"] != "tftpd listening" {
		t.Fatalf("first line %v", m)
	}
	// Link-local IPv6 (fe80::/64 on the veth): the reply must leave from
	// the same scoped address.
	srvLL := linkLocal(t, p.Server, p.ServerIf)
	for _, tc := range []struct {
		mtu        int
		server     string
		wantBlk    int
		wantWindow int
	}{
		{1500, "10.99.0.1", 1468, 8},
		{1500, "fd00:99::1", 1448, 8},
		{9000, "10.99.0.1", 8968, 8},
		{9000, "fd00:99::1", 8948, 8},
		{1500, srvLL + "%" + p.ClientIf, 1448, 8},
	} {
		t.Run(strconv.Itoa(tc.mtu)+"/"+tc.server, func(t *testing.T) {
			p.Server.Run(t, "ip", "link", "set", "dev", p.ServerIf, "mtu", strconv.Itoa(tc.mtu))
			p.Client.Run(t, "ip", "link", "set", "dev", p.ClientIf, "mtu", strconv.Itoa(tc.mtu))
			time.Sleep(1100 * time.Millisecond) // the server caches interface MTUs for a second
			out := filepath.Join(t.TempDir(), "f")
			p.Client.Run(t, atftp, "--option", "blksize 65464", "--option", "windowsize 8", "--option", "tsize 0",
				"-g", "-r", "f", "-l", out, tc.server, "69")
			b, err := os.ReadFile(out)
			if err != nil || sha256.Sum256(b) != sha256.Sum256(data) {
				t.Fatalf("content differs (%d bytes, %v)", len(b), err)
			}
			m := next()
			if m["outcome"] != "ok" || m["blksize"] != float64(tc.wantBlk) || m["windowsize"] != float64(tc.wantWindow) {
				t.Fatalf("log %v, want blksize %d", m, tc.wantBlk)
			}
		})
	}
}

// linkLocal waits for the interface's fe80:: address (after DAD) and
// returns it.
func linkLocal(t *testing.T, ns *netlab.NS, ifc string) string {
	t.Helper()
	for i := 0; i < 50; i++ {
		out := ns.Run(t, "ip", "-6", "-o", "addr", "show", "dev", ifc, "scope", "link")
		if f := strings.Fields(out); len(f) >= 4 && !strings.Contains(out, "tentative") {
			for j, w := range f {
				if w == "inet6" && j+1 < len(f) {
					return strings.SplitN(f[j+1], "/", 2)[0]
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no link-local address on %s", ifc)
	return ""
}
