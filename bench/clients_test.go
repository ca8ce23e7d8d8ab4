//go:build bench

package bench

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// tftpClient is a client under test: the command line that fetches name
// from host:port into dst.
type tftpClient struct {
	label string
	argv  func(host string, port int, name, dst string) []string
}

func tftpClients(t testing.TB) []tftpClient {
	pinget := abs(t, filepath.Join(binDir(), "pinget"))
	bs := strconv.Itoa(blksize)
	return []tftpClient{
		{"atftp, blksize " + bs, func(host string, port int, name, dst string) []string {
			return []string{"atftp", "--get", "-r", name, "-l", dst, "--option", "blksize " + bs, host, strconv.Itoa(port)}
		}},
		{"curl, blksize " + bs + " + tsize", func(host string, port int, name, dst string) []string {
			return []string{"curl", "-sS", "--tftp-blksize", bs, "-o", dst, fmt.Sprintf("tftp://%s:%d/%s", host, port, name)}
		}},
		{"tftp-hpa, 512 (no options)", func(host string, port int, name, dst string) []string {
			return []string{"tftp", "-m", "binary", host, strconv.Itoa(port), "-c", "get", name, dst}
		}},
		{"pin/tftp, blksize " + bs + " + tsize", func(host string, port int, name, dst string) []string {
			return []string{pinget, "-blksize", bs, fmt.Sprintf("%s:%d", host, port), name, dst}
		}},
	}
}

// TestTFTPClients fetches one file with every client from every server on
// namespace loopback: each server must serve each client whole, and the
// table shows how the client's own pace bounds the transfer.
func TestTFTPClients(t *testing.T) {
	l := newLab(t)
	servers := availableServers(t)
	if err := fileExists(abs(t, filepath.Join(binDir(), "pinget"))); err != nil {
		t.Skip(err)
	}
	size := envInt("BENCH_CLIENT_MIB", 8) << 20
	name := "clients"
	makeFile(t, l.dir, name, size)
	clients := tftpClients(t)
	var configs []config
	for _, c := range clients {
		configs = append(configs, config{label: c.label, size: size})
	}
	loop := &lab{pair: &netlab.Pair{Server: l.pair.Server, Client: l.pair.Server}, dir: l.dir, out: l.out}
	res := map[string]map[string]*series{}
	for run := range envInt("BENCH_CLIENT_RUNS", 3) {
		for _, srv := range servers {
			r, err := loop.start(t, srv)
			if err != nil {
				t.Errorf("run %d: %v", run, err)
				continue
			}
			for _, c := range clients {
				s := seriesFor(res, c.label, srv.name, size)
				d, err := loop.download(loop.pair.Client, int64(size), time.Minute, func(dst string) []string {
					return c.argv("127.0.0.1", 69, name, dst)
				})
				if err != nil {
					t.Logf("%s with %s run %d: %v", srv.name, c.label, run, err)
				}
				s.add(d, err)
			}
			r.stop()
		}
	}
	section := fmt.Sprintf("TFTP: every client against every server, loopback, %d MiB, lockstep", size>>20)
	results.printf(section, "The config column names the client and what it asks for.\n\n")
	writeTable(section, res, configs, func(string) (string, string) { return "tftpd-hpa", "" })
	results.printf(section, "No speed target: this table shows that every server serves every client whole\n(failures column) and the ratio to tftpd-hpa with the same client.\n")
}
