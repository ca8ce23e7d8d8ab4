package netlab

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// InterfaceMAC returns the hardware address of iface in ns.
func (ns *NS) InterfaceMAC(t testing.TB, iface string) net.HardwareAddr {
	t.Helper()
	var hw net.HardwareAddr
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err == nil {
			hw = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return hw
}

// DHCPClient returns an nclient4 client with hardware address hw on iface
// in ns (a raw socket on port 68, so it needs no address), timing out
// after 2 s and retrying retries times; it is closed when the test ends.
func (ns *NS) DHCPClient(t testing.TB, iface string, hw net.HardwareAddr, retries int) *nclient4.Client {
	t.Helper()
	var c *nclient4.Client
	if err := ns.Do(func() error {
		conn, err := nclient4.NewRawUDPConn(iface, dhcpv4.ClientPort)
		if err != nil {
			return err
		}
		c, err = nclient4.NewWithConn(conn, hw, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(retries))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
