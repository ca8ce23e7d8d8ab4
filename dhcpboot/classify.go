package dhcpboot

import "github.com/pxekit/pxekit/archdetect"

// classify4 and classify6 are the classifiers handlers use when none is
// configured.
var (
	classify4 = archdetect.FromDHCPv4
	classify6 = archdetect.FromDHCPv6
)
