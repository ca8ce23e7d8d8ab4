// Command tftpd is a read-only TFTP server for network boot built on
// package tftpserve.
//
//	tftpd -root DIR [-addr ADDR:PORT] [-blksize-max N] [-windowsize-max N]
//	      [-timeout DUR] [-max-timeout N] [-transfer-timeout DUR]
//	      [-retries N] [-max-transfers N]
//	      [-max-client-transfers N] [-single-port [-batch]] [-no-gso] [-shutdown-grace DUR]
//	      [-cache] [-fold-case] [-log-json] [-v] [-cpuprofile FILE]
//
// It serves the regular files under DIR (no escape by "..", absolute names
// or symbolic links), negotiates blksize, tsize, timeout and windowsize, and
// logs one line per transfer on standard error. SIGINT or SIGTERM stop it
// gracefully: running transfers get -shutdown-grace (5s) to finish; those
// still running then get ERROR 0 "server shutting down" and their log line
// before tftpd exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/pxekit/pxekit/tftpserve"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tftpd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("tftpd", flag.ContinueOnError)
	root := fl.String("root", "", "directory to serve (required)")
	addr := fl.String("addr", tftpserve.DefaultAddr, "UDP address to listen on")
	fl.StringVar(addr, "listen", tftpserve.DefaultAddr, "alias of -addr")
	blksize := fl.Int("blksize-max", 0, "largest blksize granted (default 65464, always clamped to the interface MTU)")
	window := fl.Int("windowsize-max", 0, fmt.Sprintf("largest windowsize granted (default %d)", tftpserve.DefaultMaxWindowSize))
	timeout := fl.Duration("timeout", 0, fmt.Sprintf("retransmission ceiling when the client sends no timeout option (default %s)", tftpserve.DefaultTimeout))
	maxTimeout := fl.Int("max-timeout", 0, fmt.Sprintf("largest timeout option (seconds) granted; a client asking more gets none and the server's -timeout applies (default %d; -1 never grants it)", tftpserve.DefaultMaxTimeout))
	transferTimeout := fl.Duration("transfer-timeout", 0, fmt.Sprintf("longest a transfer may take before it is cut off with an ERROR (default %s; -1ns = no limit)", tftpserve.DefaultTransferTimeout))
	retries := fl.Int("retries", 0, fmt.Sprintf("timeouts without progress before giving up (default %d)", tftpserve.DefaultRetries))
	maxTransfers := fl.Int("max-transfers", 0, fmt.Sprintf("concurrent transfers (default %d)", tftpserve.DefaultMaxTransfers))
	maxClient := fl.Int("max-client-transfers", 0, "concurrent transfers per client IP (default: no limit beyond -max-transfers)")
	single := fl.Bool("single-port", false, "answer from the listening port (NAT, containers)")
	batch := fl.Bool("batch", false, "with -single-port, on Linux: run lock-step (windowsize 1) transfers' data in the listening socket's loop, one sendmmsg for every DATA a batch of ACKs calls for (boot storms of legacy PXE clients)")
	noGSO := fl.Bool("no-gso", false, "send each block of a window as its own datagram instead of one UDP GSO message per window (comparison, packet captures)")
	grace := fl.Duration("shutdown-grace", 5*time.Second, "on SIGINT or SIGTERM, how long running transfers may finish before they are aborted (0: at once)")
	cache := fl.Bool("cache", false, "serve files from a shared memory cache")
	foldCase := fl.Bool("fold-case", false, "look names up case-insensitively when the exact name is missing")
	logJSON := fl.Bool("log-json", false, "log in JSON")
	verbose := fl.Bool("v", false, "verbose: also log size probes and debug details")
	cpuProfile := fl.String("cpuprofile", "", "write a CPU profile to this file until the server stops (go tool pprof)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *root == "" {
		fl.Usage()
		return errors.New("-root is required")
	}
	if *batch && !*single {
		return errors.New("-batch needs -single-port")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(h)

	dir, err := tftpserve.OpenDir(*root)
	if err != nil {
		return err
	}
	defer dir.Close()
	dir.FoldCase = *foldCase
	var handler tftpserve.Handler = dir
	if *cache {
		handler = tftpserve.NewCache(dir.FS())
	}
	srv := &tftpserve.Server{
		Handler:            handler,
		Logger:             log,
		MaxBlockSize:       *blksize,
		MaxWindowSize:      *window,
		Timeout:            *timeout,
		MaxTimeout:         *maxTimeout,
		TransferTimeout:    *transferTimeout,
		Retries:            *retries,
		MaxTransfers:       *maxTransfers,
		MaxClientTransfers: *maxClient,
		SinglePort:         *single,
		BatchedLockstep:    *batch,
		DisableGSO:         *noGSO,
	}
	pc, err := net.ListenPacket("udp", *addr)
	if err != nil {
		return err
	}
	log.Info("tftpd listening", "addr", pc.LocalAddr().String(), "root", *root)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(pc) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("tftpd shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	// Shutdown returns once every transfer has been logged (the aborted
	// ones included), and the log writes straight to standard error, so
	// nothing is lost when tftpd exits next.
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("tftpd: transfers aborted at shutdown", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, tftpserve.ErrServerClosed) {
		return err
	}
	return nil
}
