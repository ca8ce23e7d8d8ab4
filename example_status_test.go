package pxekit_test

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pxekit/pxekit"
)

// A program mounts the Server's status page beside its boot files; the
// table is made when StatusHandler is first called and sees every event
// from then on.
func ExampleServer_StatusHandler() {
	s := &pxekit.Server{BaseURL: "http://10.77.0.1:8080"}
	mux := http.NewServeMux()
	status := s.StatusHandler()
	mux.Handle("GET /status", status)
	mux.Handle("GET /status.json", status)
	mux.Handle("GET /status/events", status)
	mux.Handle("/", s.HTTPHandler())

	// What an iPXE machine's script request does to the table.
	r, _ := http.NewRequest(http.MethodGet, "/boot.ipxe?mac=52-54-00-77-00-0a&arch=0", nil)
	r.RemoteAddr = "10.77.0.100:1234"
	mux.ServeHTTP(discard{}, r)
	for _, m := range s.Status().Snapshot().Machines {
		fmt.Println(m.MAC, m.IP, m.Stage, m.Arch)
	}
	// Output:
	// 52:54:00:77:00:0a 10.77.0.100 script x86 BIOS (x86)
}

// Status alone: feed it events (a Server's OnEvent hook, say) and read
// the table.
func ExampleStatus() {
	st := &pxekit.Status{IdleTTL: time.Hour}
	mac, _ := net.ParseMAC("52:54:00:77:00:0b")
	st.Observe(pxekit.StageEvent{EventHeader: pxekit.EventHeader{Time: time.Now(), MAC: mac}, To: pxekit.StageDHCP})
	st.Observe(pxekit.UnknownMachineEvent{EventHeader: pxekit.EventHeader{Time: time.Now(), MAC: mac}})
	snap := st.Snapshot()
	fmt.Println(snap.Counters.Machines, snap.Counters.Unknown, snap.Machines[0].Stage)
	// Output:
	// 1 1 dhcp
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
