package pxekit

import (
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/tftpserve"
)

// The JSON form of events: one object per event, keys lower-case and
// stable, empty values left out except where zero means something (an
// arch code 0 is BIOS; "ipxe": false is news).

// jsonHeader is the start of every event's JSON.
type jsonHeader struct {
	Kind EventKind `json:"kind"`
	Time time.Time `json:"time"`
	MAC  string    `json:"mac,omitempty"`
}

func headerJSON(k EventKind, h EventHeader) jsonHeader {
	j := jsonHeader{Kind: k, Time: h.Time}
	if len(h.MAC) > 0 {
		j.MAC = h.MAC.String()
	}
	return j
}

// jsonClient is what an event's JSON tells of an archdetect.Client.
type jsonClient struct {
	Source       archdetect.Source    `json:"source"`
	Arch         *archdetect.Arch     `json:"arch,omitempty"`
	ArchName     string               `json:"arch_name,omitempty"`
	Firmware     archdetect.Firmware  `json:"firmware,omitempty"`
	CPU          archdetect.CPU       `json:"cpu,omitempty"`
	Transport    archdetect.Transport `json:"transport,omitempty"`
	IPXE         bool                 `json:"ipxe"`
	IPXEVersion  string               `json:"ipxe_version,omitempty"`
	IPXEFeatures []string             `json:"ipxe_features,omitempty"`
	Platform     string               `json:"platform,omitempty"`
	BuildArch    string               `json:"buildarch,omitempty"`
	UUID         string               `json:"uuid,omitempty"`
	VendorClass  string               `json:"vendor_class,omitempty"`
	UserClasses  []string             `json:"user_classes,omitempty"`
	UNDI         string               `json:"undi,omitempty"`
	Relayed      bool                 `json:"relayed,omitempty"`
	UserAgent    string               `json:"user_agent,omitempty"`
	Problems     []string             `json:"problems,omitempty"`
}

// clientJSON returns c's JSON form, nil for the zero Client.
func clientJSON(c archdetect.Client) *jsonClient {
	if c.Source == "" {
		return nil
	}
	j := &jsonClient{
		Source: c.Source, ArchName: c.ArchName, Firmware: c.Firmware, CPU: c.CPU,
		Transport: c.Transport, IPXE: c.IPXE, IPXEFeatures: c.IPXEInfo.FeatureNames(),
		Platform: c.IPXEInfo.Platform, BuildArch: c.IPXEInfo.BuildArch, UUID: c.UUID,
		VendorClass: c.VendorClass.Raw, UserClasses: c.UserClasses, Relayed: c.Relayed,
		UserAgent: c.UserAgent, Problems: c.Problems,
	}
	if c.HasArch {
		j.Arch = &c.Arch
	}
	if c.IPXEInfo.HasVersion {
		j.IPXEVersion = c.IPXEInfo.VersionString()
	}
	if c.HasUNDI {
		j.UNDI = c.UNDI.String()
	}
	return j
}

// addrText returns a's text, "" when it is invalid.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// addrPortText returns ap's text, "" when it is invalid.
func addrPortText(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}

// errText returns err's text, "" when it is nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// MarshalJSON writes the event as one object: kind "dhcp", time, mac,
// version, message, interface, peer, relay, relay_agent and
// reply_relay_agent (option 82 in and out, hex), to, mode, client, rule, why,
// outcome, reply, no_reply, ip, boot_file, err.
func (e DHCPEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		jsonHeader
		Version    int         `json:"version"`
		Message    string      `json:"message,omitempty"`
		Interface  string      `json:"interface,omitempty"`
		Peer       string      `json:"peer,omitempty"`
		Relay      string      `json:"relay,omitempty"`
		Agent      string      `json:"relay_agent,omitempty"`
		ReplyAgent string      `json:"reply_relay_agent,omitempty"`
		To         string      `json:"to,omitempty"`
		Mode       string      `json:"mode,omitempty"`
		Client     *jsonClient `json:"client,omitempty"`
		Rule       string      `json:"rule,omitempty"`
		Why        string      `json:"why,omitempty"`
		Outcome    DHCPOutcome `json:"outcome"`
		Reply      string      `json:"reply,omitempty"`
		NoReply    string      `json:"no_reply,omitempty"`
		IP         string      `json:"ip,omitempty"`
		BootFile   string      `json:"boot_file,omitempty"`
		Err        string      `json:"err,omitempty"`
	}{
		headerJSON(e.Kind(), e.EventHeader), e.Version, e.Message, e.Interface,
		addrPortText(e.Peer), addrText(e.Relay), hex.EncodeToString(e.RelayAgent), hex.EncodeToString(e.ReplyRelayAgent),
		addrPortText(e.To), e.Mode, clientJSON(e.Client), e.Rule, e.Why,
		e.Outcome, e.Reply, e.NoReply, addrText(e.IP), e.BootFile, errText(e.Err),
	})
}

// MarshalJSON writes the event as one object: kind "tftp", time, mac,
// peer, write, filename, path, size (when known), bytes, block_size,
// window_size, min_window_size, start, duration_seconds, packets,
// retransmits, outcome, error_code (when an ERROR was sent or received),
// err.
func (e TFTPEvent) MarshalJSON() ([]byte, error) {
	var size *int64
	if e.Size >= 0 {
		size = &e.Size
	}
	var code *tftpserve.ErrorCode
	switch e.Outcome {
	case tftpserve.OutcomeRefused, tftpserve.OutcomeAborted, tftpserve.OutcomeSizeProbe:
		code = &e.ErrorCode
	}
	return json.Marshal(struct {
		jsonHeader
		Peer          string               `json:"peer,omitempty"`
		Write         bool                 `json:"write,omitempty"`
		Filename      string               `json:"filename"`
		Path          string               `json:"path,omitempty"`
		Size          *int64               `json:"size,omitempty"`
		Bytes         int64                `json:"bytes"`
		BlockSize     int                  `json:"block_size,omitempty"`
		WindowSize    int                  `json:"window_size,omitempty"`
		MinWindowSize int                  `json:"min_window_size,omitempty"`
		Start         time.Time            `json:"start"`
		Duration      float64              `json:"duration_seconds"`
		Packets       int64                `json:"packets"`
		Retransmits   int64                `json:"retransmits"`
		Outcome       tftpserve.Outcome    `json:"outcome"`
		ErrorCode     *tftpserve.ErrorCode `json:"error_code,omitempty"`
		Err           string               `json:"err,omitempty"`
	}{
		headerJSON(e.Kind(), e.EventHeader), addrPortText(e.Peer), e.Write, e.Filename, e.Path,
		size, e.Bytes, e.BlockSize, e.WindowSize, e.MinWindowSize, e.Start, e.Duration.Seconds(),
		e.Packets, e.Retransmits, e.Outcome, code, errText(e.Err),
	})
}

// MarshalJSON writes the event as one object: kind "tftp-progress", time,
// mac, peer, filename, path, size (when known), bytes, block_size,
// window_size, start, elapsed_seconds, retransmits.
func (e TFTPProgressEvent) MarshalJSON() ([]byte, error) {
	var size *int64
	if e.Size >= 0 {
		size = &e.Size
	}
	return json.Marshal(struct {
		jsonHeader
		Peer        string    `json:"peer,omitempty"`
		Filename    string    `json:"filename"`
		Path        string    `json:"path,omitempty"`
		Size        *int64    `json:"size,omitempty"`
		Bytes       int64     `json:"bytes"`
		BlockSize   int       `json:"block_size,omitempty"`
		WindowSize  int       `json:"window_size,omitempty"`
		Start       time.Time `json:"start"`
		Elapsed     float64   `json:"elapsed_seconds"`
		Retransmits int64     `json:"retransmits"`
	}{
		headerJSON(e.Kind(), e.EventHeader), addrPortText(e.Peer), e.Filename, e.Path, size, e.Bytes,
		e.BlockSize, e.WindowSize, e.Start, e.Elapsed.Seconds(), e.Retransmits,
	})
}

// MarshalJSON writes the event as one object: kind "http", time, mac,
// method, path, query, route, file, status, outcome, bytes, duration_seconds,
// peer, client, known, machine, err.
func (e HTTPEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		jsonHeader
		Method   string      `json:"method"`
		Path     string      `json:"path"`
		Query    string      `json:"query,omitempty"`
		Route    HTTPKind    `json:"route,omitempty"`
		File     string      `json:"file,omitempty"`
		Status   int         `json:"status"`
		Outcome  string      `json:"outcome"`
		Bytes    int64       `json:"bytes"`
		Duration float64     `json:"duration_seconds"`
		Peer     string      `json:"peer,omitempty"`
		Client   *jsonClient `json:"client,omitempty"`
		Known    bool        `json:"known,omitempty"`
		Machine  string      `json:"machine,omitempty"`
		Err      string      `json:"err,omitempty"`
	}{
		headerJSON(e.Kind(), e.EventHeader), e.Method, e.Path, e.Query, e.Route, e.File, e.Status,
		e.Outcome(), e.Bytes, e.Duration.Seconds(), addrText(e.Peer), clientJSON(e.Client),
		e.Known, e.Machine, errText(e.Err),
	})
}

// MarshalJSON writes the event as one object: kind "stage", time, mac,
// from, to (stage names), new_boot, via.
func (e StageEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		jsonHeader
		From    Stage     `json:"from"`
		To      Stage     `json:"to"`
		NewBoot bool      `json:"new_boot"`
		Via     EventKind `json:"via,omitempty"`
	}{headerJSON(e.Kind(), e.EventHeader), e.From, e.To, e.NewBoot, e.Via})
}

// MarshalJSON writes the event as one object: kind "unknown-machine",
// time, mac, uuid, client.
func (e UnknownMachineEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		jsonHeader
		UUID   string      `json:"uuid,omitempty"`
		Client *jsonClient `json:"client,omitempty"`
	}{headerJSON(e.Kind(), e.EventHeader), e.UUID, clientJSON(e.Client)})
}
