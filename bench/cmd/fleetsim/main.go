// Command fleetsim boots a simulated fleet of UEFI machines from a
// proxyDHCP boot server (internal/fleetsim) and prints what it measured as
// one JSON object (fleetsim.Summary): the client side of the fleet
// benchmark. It runs in the
// network namespace it is started in (ip netns exec), where the machines'
// addresses must be local (ip route add local PREFIX dev lo).
//
//	fleetsim -server 10.99.0.1 -relay 10.99.0.2 -clients 10.100.0.10 -n 10000 [-tftp-n 1000]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pxekit/pxekit/internal/fleetsim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

func run() error {
	server := flag.String("server", "10.99.0.1", "boot server address (DHCP 67 and 4011)")
	relay := flag.String("relay", "10.99.0.2", "relay address: giaddr of the DISCOVERs, where offers come back (port 67)")
	clients := flag.String("clients", "10.100.0.10", "first machine's address (machine i has it + i; must be local)")
	n := flag.Int("n", 1000, "machines")
	tftpN := flag.Int("tftp-n", 0, "machines that fetch the boot file over TFTP (0: all)")
	inFlight := flag.Int("inflight", 500, "machines booting at once at most")
	ramp := flag.Duration("ramp", 0, "spread the power-ons over this long")
	blksize := flag.Int("blksize", 1468, "TFTP blksize asked")
	window := flag.Int("windowsize", 16, "TFTP windowsize asked")
	retransmit := flag.Duration("retransmit", time.Second, "wait for an answer before sending again")
	timeout := flag.Duration("machine-timeout", 5*time.Minute, "bound of one machine's boot")
	flag.Parse()
	var cfg fleetsim.Config
	var err error
	for _, a := range []struct {
		s   string
		dst *netip.Addr
	}{{*server, &cfg.Server}, {*relay, &cfg.Relay}, {*clients, &cfg.ClientBase}} {
		if *a.dst, err = netip.ParseAddr(a.s); err != nil {
			return err
		}
	}
	cfg.Machines, cfg.TFTPMachines, cfg.InFlight, cfg.Ramp = *n, *tftpN, *inFlight, *ramp
	cfg.BlockSize, cfg.WindowSize, cfg.Retransmit, cfg.MachineTimeout = *blksize, *window, *retransmit, *timeout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := fleetsim.Run(ctx, cfg)
	if err != nil {
		return err
	}
	r := res.Summary()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	r.CPUUserSeconds, r.CPUSysSeconds = time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
