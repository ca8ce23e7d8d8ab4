package dhcpboot_test

import (
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/pxekit/pxekit/dhcpboot"
)

// A proxyDHCP run by insomniacslk's server4 instead of [dhcpboot.ProxyServer]:
// one server4 per socket, each with the handler of its role. ServeDHCPFor
// fixes the role, so the sockets may have any port (ServeDHCP guesses the
// role from port 4011). The answer to a DISCOVER goes to port 68 or to a
// relay's port 67 as the protocol wants, so this needs a real interface;
// TestInteropServer4HandlerFor runs this exchange in network namespaces on
// ports 1067 and 5011 and checks the boot file and next server.
func ExampleResponder4_ServeDHCPFor() {
	policy, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	h := &dhcpboot.Responder4{Policy: policy, ServerIP: netip.MustParseAddr("192.168.1.5")}
	for _, role := range []struct {
		port int
		mode dhcpboot.Mode
	}{{dhcpv4.ServerPort, dhcpboot.ModeProxy}, {dhcpboot.PXEPort, dhcpboot.ModeProxyAck}} {
		conn, err := dhcpboot.ListenUDP4("eth0", role.port)
		if err != nil {
			panic(err)
		}
		srv, err := server4.NewServer("", nil, h.ServeDHCPFor(role.mode), server4.WithConn(conn))
		if err != nil {
			panic(err)
		}
		go srv.Serve() // srv.Close() stops it
	}
	select {} // serve until the program stops
}
