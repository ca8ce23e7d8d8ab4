// Command pxkdhcp runs dhcpboot's ProxyServer or LabServer4 with the default
// policy on one interface: the pxekit side of the DHCP benchmarks.
//
//	pxkdhcp -iface IFACE -mode proxy|lab [-range FIRST-LAST -subnet CIDR -leases FILE -lease-sync before-ack|after-ack] [-cpuprofile FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/pxekit/pxekit/dhcpboot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pxkdhcp:", err)
		os.Exit(1)
	}
}

func run() error {
	iface := flag.String("iface", "", "interface to serve (required)")
	mode := flag.String("mode", "proxy", "proxy or lab")
	pool := flag.String("range", "10.99.0.10-10.99.0.250", "lab mode: dynamic range FIRST-LAST")
	subnet := flag.String("subnet", "10.99.0.0/24", "lab mode: subnet served")
	leases := flag.String("leases", "", "lab mode: lease file (LabServer4.LeaseFile); none when empty")
	leaseSync := flag.String("lease-sync", "before-ack", "lab mode: fsync each group of leases before their ACKs (before-ack, ISC dhcpd) or write before and sync after (after-ack, Kea)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *iface == "" {
		return fmt.Errorf("-iface is required")
	}
	policy, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var s interface {
		ListenAndServe() error
		Shutdown(context.Context) error
	}
	switch *mode {
	case "proxy":
		s = &dhcpboot.ProxyServer{Policy: policy, Interface: *iface}
	case "lab":
		first, last, ok := strings.Cut(*pool, "-")
		if !ok {
			return fmt.Errorf("-range wants FIRST-LAST")
		}
		start, err := netip.ParseAddr(first)
		if err != nil {
			return err
		}
		end, err := netip.ParseAddr(last)
		if err != nil {
			return err
		}
		prefix, err := netip.ParsePrefix(*subnet)
		if err != nil {
			return err
		}
		var ls dhcpboot.LeaseSync
		switch *leaseSync {
		case "before-ack":
		case "after-ack":
			ls = dhcpboot.WriteBeforeAck
		default:
			return fmt.Errorf("-lease-sync wants before-ack or after-ack, not %q", *leaseSync)
		}
		s = &dhcpboot.LabServer4{Policy: policy, Interface: *iface, LeaseFile: *leases, LeaseSync: ls,
			Subnets: []dhcpboot.Subnet{{Prefix: prefix, RangeStart: start, RangeEnd: end}}}
	default:
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	go func() {
		<-ctx.Done()
		_ = s.Shutdown(context.Background())
	}()
	if err := s.ListenAndServe(); !errors.Is(err, dhcpboot.ErrServerClosed) {
		return err
	}
	return nil
}
