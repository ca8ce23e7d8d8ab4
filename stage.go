package pxekit

import (
	"fmt"
	"strconv"
)

// Stage is how far a machine has come in one network boot. Stages only
// move forward within a boot; a new DHCP request from a machine past
// StageDHCP starts a new boot.
type Stage uint8

// Stages, in boot order.
const (
	// StageUnknown: nothing seen yet.
	StageUnknown Stage = iota
	// StageDHCP: the firmware's DHCP request was answered with boot data.
	StageDHCP
	// StageBootFile: the boot file (undionly.kpxe, ipxe.efi, …) was fetched
	// over TFTP or HTTP.
	StageBootFile
	// StageIPXE: iPXE is running (its DHCP request, with user class "iPXE",
	// was answered).
	StageIPXE
	// StageScript: the iPXE script (boot script or per-machine script) was
	// served.
	StageScript
	// StageKernel: the kernel or an initrd named by the script was fetched.
	StageKernel
)

var stageNames = [...]string{"unknown", "dhcp", "bootfile", "ipxe", "script", "kernel"}

// String returns the stage's lower-case name ("dhcp", "bootfile", …).
func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "stage(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the stage's name, so JSON events and the status page
// show words.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a stage's name, as MarshalText writes it.
func (s *Stage) UnmarshalText(b []byte) error {
	for i, name := range stageNames {
		if string(b) == name {
			*s = Stage(i)
			return nil
		}
	}
	return fmt.Errorf("pxekit: unknown stage %q", b)
}
