package main

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTimeLimitFlags runs tftpd with -max-timeout and -transfer-timeout: a
// timeout option above the cap is left out of the OACK, and a client that
// ACKs slowly is cut off with an ERROR and logged as failed.
func TestTimeLimitFlags(t *testing.T) {
	bin := buildTftpd(t)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "big"), make([]byte, 512*400), 0o644)
	_, next, addr := startTftpd(t, bin, "-root", root, "-max-timeout", "3", "-transfer-timeout", "1s", "-timeout", "2s")
	server, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rrq := []byte("\x00\x01big\x00octet\x00timeout\x005\x00tsize\x000\x00")
	pc.WriteTo(rrq, server)
	buf := make([]byte, 2048)
	var tid net.Addr
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for the server: %v", err)
		}
		op := binary.BigEndian.Uint16(buf)
		if op == 6 { // OACK
			if oack := string(buf[2:n]); strings.Contains(oack, "timeout") || !strings.Contains(oack, "tsize") {
				t.Fatalf("OACK %q: want tsize and no timeout (above -max-timeout 3)", oack)
			}
		}
		if op == 5 { // ERROR
			if msg := strings.TrimRight(string(buf[4:n]), "\x00"); msg != "transfer time limit reached" {
				t.Fatalf("ERROR %q", msg)
			}
			break
		}
		tid = from
		time.Sleep(100 * time.Millisecond) // slow but steady
		ack := []byte{0, 4, 0, 0}
		if op == 3 { // DATA: ACK its block
			copy(ack[2:], buf[2:4])
		}
		pc.WriteTo(ack, tid)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("cut off after %v with -transfer-timeout 1s", d)
	}
	if m := next(); m["outcome"] != "failed" || !strings.Contains(m["err"].(string), "time limit") {
		t.Fatalf("log line %v", m)
	}
}
