package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/pxekit/pxekit/ipxescript"
)

// BootedMarker starts the line the built-in per-machine script prints, with
// the MAC, build architecture and platform as iPXE sees them. Tests and
// `make demo` watch the console for it.
const BootedMarker = "PXEKIT-BOOTED"

// scripts produces the iPXE scripts pxeserver serves.
type scripts struct {
	cfg         *Config
	defaultBoot []byte
	defaultMach []byte
}

// newScripts builds the built-in scripts and checks -script parses.
func newScripts(cfg *Config) (*scripts, error) {
	s := &scripts{cfg: cfg}
	var err error
	if s.defaultBoot, err = bootScript(cfg.HTTPBase()); err != nil {
		return nil, fmt.Errorf("built-in boot script: %w", err)
	}
	if s.defaultMach, err = machineScript(); err != nil {
		return nil, fmt.Errorf("built-in machine script: %w", err)
	}
	if cfg.Script != "" {
		if _, err := s.boot(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// bootURL is the URL iPXE clients are given.
func (s *scripts) bootURL() string { return s.cfg.HTTPBase() + "/boot.ipxe" }

// boot returns /boot.ipxe: the -script file (read at each request, so it
// can be edited while the server runs; it must be a regular file and
// parse) or the built-in one.
func (s *scripts) boot() ([]byte, error) {
	if s.cfg.Script == "" {
		return s.defaultBoot, nil
	}
	b, err := readRegular(os.OpenFile, s.cfg.Script)
	if err != nil {
		return nil, fmt.Errorf("-script: %w", err)
	}
	if err := checkScript(b, s.cfg.Script); err != nil {
		return nil, fmt.Errorf("-script: %w", err)
	}
	return b, nil
}

// machineFile is the name of a machine's own script under the HTTP root.
func machineFile(mac net.HardwareAddr) string {
	return "machines/" + strings.ReplaceAll(mac.String(), ":", "-") + ".ipxe"
}

// machine returns the per-machine script: the config file's script for
// the MAC, else machines/MAC.ipxe under the HTTP root when it exists (it
// must be a regular file and parse), else the built-in one.
func (s *scripts) machine(root *os.Root, mac net.HardwareAddr) ([]byte, error) {
	if b, ok := s.cfg.Machines[mac.String()]; ok {
		return b, nil
	}
	if root != nil {
		name := machineFile(mac)
		b, err := readRegular(root.OpenFile, name)
		switch {
		case err == nil:
			if err := checkScript(b, name); err != nil {
				return nil, err
			}
			return b, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return s.defaultMach, nil
}

// checkScript refuses what iPXE would not run as a script: no "#!ipxe"
// (or "#!gpxe") magic line, or a parse error; and a script that iPXE
// would surely fail, because it ends inside a backslash continuation
// (often a file caught while being written).
func checkScript(b []byte, name string) error {
	f, err := ipxescript.Parse(b, name)
	if err != nil {
		return err
	}
	if f.Header == ipxescript.HeaderNone {
		return fmt.Errorf("%s: does not start with #!ipxe, iPXE would not run it as a script", name)
	}
	if n := len(f.Lines); n > 0 && f.Lines[n-1].Unterminated.IsValid() {
		return fmt.Errorf("%s:%s: script ends inside a backslash continuation, iPXE would fail it there", name, f.Lines[n-1].Unterminated)
	}
	return nil
}
