package dhcpboot

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PXE vendor sub-option codes inside option 43 (PXE 2.1 table 2-1).
const (
	pxeDiscoveryControl = 6
	pxeBootServers      = 8
	pxeBootMenu         = 9
	pxeMenuPrompt       = 10
	pxeBootItem         = 71
	pxeEnd              = 255
)

// DiscoveryBootFile is the PXE discovery control bit (43.6 bit 3) that tells
// a PXE client to download the boot file of the offer without prompt, menu
// or boot server discovery.
const DiscoveryBootFile = 0x08

// minimalPXE43 is "06 01 08 ff": discovery control = use the boot file.
var minimalPXE43 = []byte{pxeDiscoveryControl, 1, DiscoveryBootFile, pxeEnd}

// encode returns option 43's value (nil when there is nothing to send).
func (o *PXEOptions) encode() ([]byte, error) {
	var b []byte
	put := func(code uint8, v []byte) error {
		if len(v) > 255 {
			return fmt.Errorf("PXE sub-option %d longer than 255 bytes", code)
		}
		b = append(b, code, byte(len(v)))
		b = append(b, v...)
		return nil
	}
	if o.DiscoveryControl != 0 {
		if o.DiscoveryControl&0xf0 != 0 {
			return nil, errors.New("PXE discovery control bits 4-7 must be 0")
		}
		_ = put(pxeDiscoveryControl, []byte{o.DiscoveryControl})
	}
	if len(o.BootServers) > 0 {
		var v []byte
		for _, s := range o.BootServers {
			if len(s.Addrs) == 0 || len(s.Addrs) > 255 {
				return nil, fmt.Errorf("PXE boot server type %d needs 1 to 255 addresses", s.Type)
			}
			v = binary.BigEndian.AppendUint16(v, s.Type)
			v = append(v, byte(len(s.Addrs)))
			for _, a := range s.Addrs {
				a = a.Unmap()
				if !a.Is4() {
					return nil, fmt.Errorf("PXE boot server %s is not IPv4", a)
				}
				a4 := a.As4()
				v = append(v, a4[:]...)
			}
		}
		if err := put(pxeBootServers, v); err != nil {
			return nil, err
		}
	}
	if len(o.Menu) > 0 {
		var v []byte
		for _, m := range o.Menu {
			if len(m.Text) > 255 {
				return nil, errors.New("PXE menu text longer than 255 bytes")
			}
			v = binary.BigEndian.AppendUint16(v, m.Type)
			v = append(v, byte(len(m.Text)))
			v = append(v, m.Text...)
		}
		if err := put(pxeBootMenu, v); err != nil {
			return nil, err
		}
	}
	if o.Prompt != nil {
		if err := put(pxeMenuPrompt, append([]byte{o.Prompt.Timeout}, o.Prompt.Text...)); err != nil {
			return nil, err
		}
	}
	for _, r := range o.Raw {
		if r.Code == 0 || r.Code == pxeEnd {
			return nil, fmt.Errorf("PXE sub-option code %d cannot be set", r.Code)
		}
		if err := put(r.Code, r.Value); err != nil {
			return nil, err
		}
	}
	if len(b) == 0 {
		return nil, nil
	}
	b = append(b, pxeEnd)
	if len(b) > 255 {
		return nil, errors.New("option 43 longer than 255 bytes")
	}
	return b, nil
}

// findSub returns the value of sub-option code in a TLV-encoded option
// (option 43, 175), tolerating pad (0) and stopping at end (255).
func findSub(b []byte, code uint8) ([]byte, bool) {
	for len(b) > 0 {
		c := b[0]
		if c == 0 {
			b = b[1:]
			continue
		}
		if c == 255 || len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil, false
		}
		v := b[2 : 2+int(b[1])]
		if c == code {
			return v, true
		}
		b = b[2+int(b[1]):]
	}
	return nil, false
}

// pxelinuxMagic is option 208's value (RFC 5071).
var pxelinuxMagic = []byte{0xf1, 0x00, 0x74, 0x7e}

func (p *PXELinux) options() []Option {
	var out []Option
	if p.Magic {
		out = append(out, Option{208, pxelinuxMagic})
	}
	if p.ConfigFile != "" {
		out = append(out, Option{209, []byte(p.ConfigFile)})
	}
	if p.PathPrefix != "" {
		out = append(out, Option{210, []byte(p.PathPrefix)})
	}
	if p.RebootSeconds > 0 {
		out = append(out, Option{211, binary.BigEndian.AppendUint32(nil, p.RebootSeconds)})
	}
	return out
}
