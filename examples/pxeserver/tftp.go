package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pxekit/pxekit/tftpserve"
)

// newTFTP serves cfg.TFTPRoot on cfg.Addr port 69 (and on -addr6 port 69
// with -dhcp6 lab, whose boot URLs name it) and logs one "tftp" line
// per transfer: file, options asked for and granted, bytes, duration and
// outcome. A tsize probe that the client ends with ERROR 8 (EDK2 does this
// before every download) is outcome "size-probe", a normal event.
func newTFTP(cfg *Config, log *slog.Logger) ([]service, error) {
	dir, err := tftpserve.OpenDir(cfg.TFTPRoot)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(cfg.Addr.String(), "69"))
	if err != nil {
		dir.Close()
		return nil, err
	}
	var pc6 net.PacketConn
	if cfg.DHCP6 == "lab" {
		if pc6, err = net.ListenPacket("udp6", net.JoinHostPort(cfg.Addr6.String(), "69")); err != nil {
			pc.Close()
			dir.Close()
			return nil, err
		}
	}
	// The options each client asked for, kept from the request until its
	// transfer is reported (TransferInfo holds only what was granted).
	var asked sync.Map // netip.AddrPort -> string
	s := &tftpserve.Server{
		MaxBlockSize:       cfg.TFTP.MaxBlockSize,
		MaxWindowSize:      cfg.TFTP.MaxWindowSize,
		MaxTransfers:       cfg.TFTP.MaxTransfers,
		MaxClientTransfers: cfg.TFTP.MaxClientTransfers,
		MaxTimeout:         cfg.TFTP.MaxTimeout,
		TransferTimeout:    time.Duration(cfg.TFTP.TransferTimeout),
		Handler: tftpserve.HandlerFunc(func(w tftpserve.ResponseWriter, r *tftpserve.Request) {
			asked.Store(r.RemoteAddr, formatOptions(r.Options))
			dir.ServeTFTP(w, r)
		}),
		OnTransfer: func(ti tftpserve.TransferInfo) {
			req := ""
			if v, ok := asked.LoadAndDelete(ti.Client); ok {
				req = v.(string)
			}
			attrs := []any{
				slog.String("remote", ti.Client.String()),
				slog.String("file", ti.Filename),
				slog.String("requested", req),
				slog.String("outcome", string(ti.Outcome)),
				slog.Int64("size", ti.Size),
				slog.Int64("bytes", ti.Bytes),
				slog.Int("blksize", ti.BlockSize),
				slog.Int("windowsize", ti.WindowSize),
				slog.Int64("packets", ti.Packets),
				slog.Int64("retransmits", ti.Retransmits),
				slog.Float64("duration_ms", float64(ti.Duration.Microseconds())/1000),
			}
			if ti.MinWindowSize > 0 && ti.MinWindowSize < ti.WindowSize {
				attrs = append(attrs, slog.Int("windowsize_min", ti.MinWindowSize))
			}
			if ti.ErrorCode != 0 || ti.Outcome == tftpserve.OutcomeRefused {
				attrs = append(attrs, slog.Int("error_code", int(ti.ErrorCode)))
			}
			if ti.Err != nil {
				attrs = append(attrs, slog.String("err", ti.Err.Error()))
			}
			level := slog.LevelInfo
			switch ti.Outcome {
			case tftpserve.OutcomeTimeout, tftpserve.OutcomeFailed, tftpserve.OutcomeAborted:
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "tftp", attrs...)
		},
	}
	out := []service{{
		name:  "tftp",
		serve: func() error { return s.Serve(pc) },
		shutdown: func(ctx context.Context) error {
			err := s.Shutdown(ctx)
			dir.Close()
			return err
		},
	}}
	if pc6 != nil {
		// The same server: its Shutdown waits for the transfers of both.
		out = append(out, service{name: "tftp6", serve: func() error { return s.Serve(pc6) }, shutdown: func(ctx context.Context) error {
			err := s.Shutdown(ctx)
			pc6.Close() // not yet served when a later service failed to start
			return err
		}})
	}
	return out, nil
}

// formatOptions renders TFTP options as "name=value" words in request order.
func formatOptions(opts []tftpserve.Option) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		parts = append(parts, o.Name+"="+o.Value)
	}
	return strings.Join(parts, " ")
}
