package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestTFTPTimeLimits: the TFTP time limits come from the config file's
// tftp section, flags win over it, and bad values are refused by name.
func TestTFTPTimeLimits(t *testing.T) {
	base := []string{"-iface", "br0", "-addr", "10.77.0.1"}
	p := writeConfig(t, "tftp: {max_timeout: 7, transfer_timeout: 45m, max_transfers: 3}\n")
	c, err := parseConfig(append(base, "-config", p), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig(append(base, \"-config\", p), io.Discard): %v", err)
	}
	if c.TFTP != (tftpTuning{MaxTimeout: 7, TransferTimeout: duration(45 * time.Minute), MaxTransfers: 3}) {
		t.Errorf("c.TFTP = %v, want %v", c.TFTP, tftpTuning{MaxTimeout: 7, TransferTimeout: duration(45 * time.Minute), MaxTransfers: 3})
	}

	c, err = parseConfig(append(base, "-config", p, "-tftp-max-timeout", "-1", "-tftp-transfer-timeout", "2m"), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.TFTP.MaxTimeout != -1 {
		t.Errorf("flag wins over the file: c.TFTP.MaxTimeout = %v, want %v", c.TFTP.MaxTimeout, -1)
	}
	if c.TFTP.TransferTimeout != duration(2*time.Minute) {
		t.Errorf("flag wins over the file: c.TFTP.TransferTimeout = %v, want %v", c.TFTP.TransferTimeout, duration(2*time.Minute))
	}

	c, err = parseConfig(base, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig(base, io.Discard): %v", err)
	}
	if c.TFTP != (tftpTuning{}) {
		t.Errorf("zero values: tftpserve's defaults: c.TFTP = %v, want %v", c.TFTP, tftpTuning{})
	}

	for _, tc := range []struct{ file, flag, want string }{
		{"tftp: {max_timeout: 300}\n", "", "max_timeout"},
		{"tftp: {transfer_timeout: soon}\n", "", "soon"},
		{"tftp: {transfer_timeout: 30}\n", "", "duration"},
		{"", "-tftp-max-timeout=256", "-tftp-max-timeout"},
		{"", "-tftp-transfer-timeout=10", "tftp-transfer-timeout"},
	} {
		args := base
		if tc.file != "" {
			args = append(args, "-config", writeConfig(t, tc.file))
		}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		_, err := parseConfig(args, io.Discard)
		if err == nil {
			t.Errorf("parseConfig with file %q, flag %q succeeded, want an error containing %q", tc.file, tc.flag, tc.want)
		} else {
			if s := err.Error(); !strings.Contains(s, tc.want) {
				t.Errorf("err.Error() = %q, want it to contain %q", s, tc.want)
			}
		}
	}
}
