package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTFTPTimeLimits: the TFTP time limits come from the config file's
// tftp section, flags win over it, and bad values are refused by name.
func TestTFTPTimeLimits(t *testing.T) {
	base := []string{"-iface", "br0", "-addr", "10.77.0.1"}
	p := writeConfig(t, "tftp: {max_timeout: 7, transfer_timeout: 45m, max_transfers: 3}\n")
	c, err := parseConfig(append(base, "-config", p), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, tftpTuning{MaxTimeout: 7, TransferTimeout: duration(45 * time.Minute), MaxTransfers: 3}, c.TFTP)

	c, err = parseConfig(append(base, "-config", p, "-tftp-max-timeout", "-1", "-tftp-transfer-timeout", "2m"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, -1, c.TFTP.MaxTimeout, "flag wins over the file")
	assert.Equal(t, duration(2*time.Minute), c.TFTP.TransferTimeout, "flag wins over the file")

	c, err = parseConfig(base, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, tftpTuning{}, c.TFTP, "zero values: tftpserve's defaults")

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
		if assert.Error(t, err, "%q %q", tc.file, tc.flag) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}
