package pxekit_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
)

// ExampleMetrics feeds one event hook from DHCP and HTTP: it prints each
// event (a log would write json.Marshal(e), one object per line) and
// counts it in metrics on a registry served on /metrics beside the boot
// files.
func ExampleMetrics() {
	reg := prometheus.NewRegistry()
	metrics, err := pxekit.NewMetrics(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	hook := func(e pxekit.Event) {
		metrics.Observe(e)
		switch e := e.(type) {
		case pxekit.DHCPEvent:
			fmt.Println(e.Kind(), e.MAC, e.Message, e.Outcome, e.Reply, e.Rule, e.BootFile)
		case pxekit.HTTPEvent:
			fmt.Println(e.Kind(), e.MAC, e.Method, e.Path, e.Status, e.Route)
		}
	}

	// DHCP: a lab server's decision for a BIOS PXE ROM (a ProxyServer or
	// LabServer4 calls OnReply with it).
	policy, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	lab := &dhcpboot.LabServer4{Policy: policy, ServerIP: netip.MustParseAddr("10.0.0.1"),
		Subnets: []dhcpboot.Subnet{{Prefix: netip.MustParsePrefix("10.0.0.0/24"),
			RangeStart: netip.MustParseAddr("10.0.0.100"), RangeEnd: netip.MustParseAddr("10.0.0.199")}},
		OnReply: func(x dhcpboot.Exchange4) { hook(pxekit.DHCPEventFrom4(x)) }}
	x := lab.Reply(discover("52:54:00:00:00:01", iana.INTEL_X86PC, ""), dhcpboot.Arrival{})
	lab.OnReply(x) // what Serve does once it has sent x.Reply

	// HTTP: the boot script and /metrics on one mux.
	boot, err := pxekit.NewHTTPHandler(pxekit.HTTPConfig{BaseURL: "http://10.0.0.1:8080",
		OnRequest: func(r pxekit.HTTPRequest) { hook(pxekit.HTTPEventFrom(r)) }})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer boot.Close()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", boot)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/boot.ipxe?mac=52-54-00-00-00-01", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "pxekit_") && !strings.HasSuffix(l, " 0") && !strings.Contains(l, "_bucket") {
				fmt.Println(l)
			}
		}
		resp.Body.Close()
	}
	// Output:
	// dhcp 52:54:00:00:00:01 DISCOVER answered OFFER bios undionly.kpxe
	// http 52:54:00:00:00:01 GET /boot.ipxe 200 script
	// pxekit_dhcp_decisions_total{rule="bios"} 1
	// pxekit_requests_total{kind="dhcp",outcome="answered"} 1
	// pxekit_requests_total{kind="http",outcome="2xx"} 1
	// pxekit_served_bytes_total{protocol="http"} 470
}
