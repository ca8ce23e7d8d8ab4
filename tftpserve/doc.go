// Package tftpserve is a TFTP server tuned for network boot: PXE ROMs,
// iPXE, UEFI (EDK2/OVMF) PXE, PXELINUX and U-Boot.
//
// It has the shape of net/http: a [Server] with documented fields and safe
// zero values, [Server.ListenAndServe], [Server.Serve] for a socket handed
// in by a daemon, [Server.Shutdown] that drains transfers, and a [Handler]
// interface with a [HandlerFunc] adapter. Handlers that wrap each other
// cover the common cases: [Dir] (files under an os.Root, nothing escapes
// it), [FS] (any fs.FS, such as an embed.FS), [Cache] (one shared in-memory
// copy of hot files that notices changes), [ContentFunc] (generated content
// such as pxelinux.cfg/01-<mac> or iPXE scripts) and [ServeMux] with
// [StripPrefix]. Request names are normalised by [CleanPath] first.
//
// What boot clients need, and what the engine does:
//   - Option negotiation (RFC 2347) with blksize (RFC 2348; clamped to the
//     path MTU so nothing is fragmented), tsize and timeout (RFC 2349) and
//     windowsize (RFC 7440, asked for by EDK2). Only options the client
//     asked for are acknowledged, in its spelling; invalid values are
//     refused with ERROR 8; no options means plain RFC 1350.
//   - RFC 7440 windows: an ACK for block k restarts the window at k+1;
//     duplicate and stale ACKs are ignored, so the Sorcerer's Apprentice
//     bug cannot happen. Only the timer retransmits, with an adaptive
//     timeout (RFC 6298) bounded by the client's timeout option, and a
//     bounded number of retries.
//   - A client that asks for a larger window than its receive ring holds
//     (U-Boot asking 64 behind a ring of about 31) has its effective window
//     shrunk to what it takes and grown back one block at a time;
//     [TransferInfo.MinWindowSize] reports it.
//   - Block numbers roll over from 65535 to 0, as every boot client expects.
//   - An ERROR right after the OACK (the EDK2 and iPXE size probe) ends the
//     transfer as [OutcomeSizeProbe], not as a failure.
//   - Each transfer answers from its own port (its TID); packets from other
//     ports get ERROR 5. [Server.SinglePort] answers from the listening
//     port instead, for NAT and containers, without giving up blksize or
//     windowsize. A copy of a request from the client's port (retransmitted,
//     or duplicated by the network) never restarts a running transfer.
//   - Every transfer has a time limit ([Server.TransferTimeout], 30 minutes
//     by default) and the timeout option is granted up to
//     [Server.MaxTimeout] (10 s by default), so no client holds a slot
//     for long.
//   - [Server.Tune] lowers blksize, windowsize or timeout per client;
//     [Server.OnTransfer] and [Server.Logger] see one record per transfer,
//     [Server.OnProgress] a running read transfer's acknowledged bytes a
//     few times a second (for a progress bar).
//   - Speed: a window goes out in one system call and is read from the
//     file in one pread, made while the previous window's ACK is awaited.
//     On Linux 4.18 and later the window's blocks after the first are
//     one buffer that the kernel cuts into datagrams (UDP GSO: about a
//     third of the server CPU per byte of sending each block alone;
//     [Server.DisableGSO] turns it off), otherwise one sendmmsg; the first
//     block goes alone, so that the client starts reading at once. In
//     single-port mode the listening socket is read many datagrams per
//     call (recvmmsg); with [Server.BatchedLockstep] that socket's
//     reader also runs the data phase of lock-step transfers itself,
//     sending every DATA a batch of ACKs calls for in one sendmmsg, which
//     spares a goroutine wake-up per block in a boot storm. On Linux, a
//     transfer whose RTT is under 100 µs polls its socket for a few microseconds before it sleeps (only while
//     no more transfers run than there are processors), which makes
//     lockstep on loopback and fast LANs about 1.4× faster.
//
// The shortest real use:
//
//	dir, err := tftpserve.OpenDir("/srv/tftp")
//	if err != nil { … }
//	srv := &tftpserve.Server{Handler: dir, Logger: slog.Default()}
//	log.Fatal(srv.ListenAndServe())
//
// Write requests are refused with an access violation unless
// [Server.WriteHandler] is set; then uploads (with the same options and
// windows) stream to it and the client's final ACK waits for its verdict.
package tftpserve
