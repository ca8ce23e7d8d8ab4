package dhcpboot

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pxekit/pxekit/archdetect"
)

// Tri is a yes/no condition that can also be left open.
type Tri uint8

// Tri values. The zero value Any does not constrain.
const (
	Any Tri = iota
	Yes
	No
)

func (t Tri) ok(v bool) bool { return t == Any || (t == Yes) == v }

// String returns "any", "yes" or "no".
func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "any"
}

// MarshalText implements encoding.TextMarshaler.
func (t Tri) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler ("any"/"", "yes"/"true", "no"/"false").
func (t *Tri) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "", "any":
		*t = Any
	case "yes", "true":
		*t = Yes
	case "no", "false":
		*t = No
	default:
		return fmt.Errorf("dhcpboot: %q is not any, yes or no", b)
	}
	return nil
}

// Match is the condition of a [Rule]. Every non-empty field must hold (AND);
// within a list field any element may match (OR). The zero Match matches
// every client.
type Match struct {
	// Archs: the client's architecture code (option 93 / DHCPv6 61, or the
	// vendor class digits) is one of these.
	Archs []archdetect.Arch `json:"archs,omitempty"`
	// Firmware and CPU: the families archdetect derived from the arch code.
	Firmware []archdetect.Firmware `json:"firmware,omitempty"`
	CPU      []archdetect.CPU      `json:"cpu,omitempty"`
	// Transport: pxe (TFTP) or http (UEFI HTTP boot and friends).
	Transport []archdetect.Transport `json:"transport,omitempty"`
	// IPXE: the client is (Yes) or is not (No) iPXE.
	IPXE Tri `json:"ipxe,omitempty"`
	// UserClass: one of the client's user classes, parsed RFC 3004 or raw,
	// equals one of these (case-sensitive, as iPXE and ISC dhcpd compare).
	UserClass []string `json:"user_class,omitempty"`
	// IPXEFeatures: the client announces all of these option 175 features.
	IPXEFeatures IPXEFeatures `json:"ipxe_features,omitempty"`
	// MAC: the hardware address matches one of these. Rules whose MAC
	// patterns are all exact are found through a map, whatever their number.
	MAC []MACPattern `json:"mac,omitempty"`
	// VendorClass: option 60 as sent starts with one of these.
	VendorClass []string `json:"vendor_class,omitempty"`
	// UUID: the client's UUID (canonical text) equals one of these,
	// case-insensitively.
	UUID []string `json:"uuid,omitempty"`
	// Relayed: the request came (Yes) or did not come (No) through a relay.
	Relayed Tri `json:"relayed,omitempty"`
	// RelayNet: the relay address lies in one of these prefixes.
	RelayNet []netip.Prefix `json:"relay_net,omitempty"`
	// Interface: the request arrived on one of these interfaces.
	Interface []string `json:"interface,omitempty"`
}

// Option is a DHCPv4 option to add to a reply as is.
type Option struct {
	Code  uint8  `json:"code"`
	Value []byte `json:"value"`
}

// BootServer is one entry of PXE option 43.8: servers of a boot server type.
type BootServer struct {
	Type  uint16       `json:"type"`
	Addrs []netip.Addr `json:"addrs"`
}

// MenuItem is one entry of PXE option 43.9.
type MenuItem struct {
	Type uint16 `json:"type"`
	Text string `json:"text"`
}

// Prompt is PXE option 43.10: Timeout 0 selects the first menu item at
// once, 255 waits forever, other values are seconds to wait for F8.
type Prompt struct {
	Timeout uint8  `json:"timeout"`
	Text    string `json:"text"`
}

// PXEOptions are the PXE vendor sub-options of option 43 (PXE 2.1 table
// 2-1). Most setups need none of them: dhcpboot sends the minimal
// "boot this file" form (43.6 = 8) itself where a client needs it.
type PXEOptions struct {
	// DiscoveryControl is 43.6 (bit 3 = boot the file, no menu); 0 = not sent.
	DiscoveryControl uint8        `json:"discovery_control,omitempty"`
	BootServers      []BootServer `json:"boot_servers,omitempty"`
	Menu             []MenuItem   `json:"menu,omitempty"`
	Prompt           *Prompt      `json:"prompt,omitempty"`
	// Raw sub-options are appended as given (for example the text
	// "Raspberry Pi Boot" some Raspberry Pi firmware wants).
	Raw []Option `json:"raw,omitempty"`
}

// PXELinux are the PXELINUX options 208-211 (RFC 5071). They are sent
// unrequested, as PXELINUX expects.
type PXELinux struct {
	// Magic sends option 208 F1:00:74:7E (needed before PXELINUX 3.55).
	Magic      bool   `json:"magic,omitempty"`
	ConfigFile string `json:"config_file,omitempty"`
	PathPrefix string `json:"path_prefix,omitempty"`
	// RebootSeconds is option 211; 0 = not sent.
	RebootSeconds uint32 `json:"reboot_seconds,omitempty"`
}

// Action is what a rule decides for a client.
type Action struct {
	// Ignore: send nothing to this client (a proxy stays silent, a lab
	// server gives no boot data... and no address).
	Ignore bool `json:"ignore,omitempty"`
	// BootFile is the boot file name (TFTP) or URL (iPXE, HTTP boot).
	BootFile *Template `json:"boot_file,omitempty"`
	// NextServer is the TFTP server (siaddr); invalid = the server's own address.
	NextServer netip.Addr `json:"next_server,omitzero"`
	// ServerName is the TFTP server name (sname and option 66).
	ServerName string `json:"server_name,omitempty"`
	// Options are added to the reply as given (they replace options the
	// reply would otherwise carry with the same code).
	Options []Option `json:"options,omitempty"`
	// PXE sub-options for option 43, sent to PXE (not HTTP) clients.
	PXE *PXEOptions `json:"pxe,omitempty"`
	// PXELinux options 208-211.
	PXELinux *PXELinux `json:"pxelinux,omitempty"`
	// BootParams are DHCPv6 option 60 boot file parameters.
	BootParams []string `json:"boot_params,omitempty"`
}

// Rule is one entry of a [Policy].
type Rule struct {
	Name   string `json:"name"`
	Match  Match  `json:"match"`
	Action Action `json:"action"`
}

// Policy is an ordered list of rules; the first rule that matches decides.
// A Policy is immutable and safe for concurrent use; build it with
// [NewPolicy]. It holds a frozen copy of its rules: nothing the caller
// keeps (the rules given to NewPolicy, what Rules or [Decision.Rule]
// return) shares memory with it, so no later change reaches a decision.
type Policy struct {
	rules []Rule // frozen: deep copies, never written after NewPolicy
	why   []string
	byMAC map[macKey][]int32 // rules whose MAC patterns are all exact
	scan  []int32            // all other rules, in order
}

// NewPolicy checks the rules and builds a policy. Rule names must be
// non-empty and unique (they explain decisions). The policy keeps a deep
// copy of the rules (their lists and PXE options included): changing them
// afterwards does not change the policy.
func NewPolicy(rules ...Rule) (*Policy, error) {
	p := &Policy{rules: make([]Rule, len(rules)), why: make([]string, len(rules))}
	for i := range rules {
		p.rules[i] = rules[i].clone()
	}
	seen := make(map[string]bool, len(rules))
	for i := range p.rules {
		r := &p.rules[i]
		if r.Name == "" {
			return nil, fmt.Errorf("dhcpboot: rule %d has no name", i)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("dhcpboot: two rules named %q", r.Name)
		}
		seen[r.Name] = true
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("dhcpboot: rule %q: %w", r.Name, err)
		}
		p.why[i] = fmt.Sprintf("rule %q (#%d) matched: %s", r.Name, i+1, r.Match.describe())
		exact := len(r.Match.MAC) > 0
		for _, m := range r.Match.MAC {
			exact = exact && m.Exact()
		}
		if !exact {
			p.scan = append(p.scan, int32(i))
			continue
		}
		if p.byMAC == nil {
			p.byMAC = make(map[macKey][]int32)
		}
		for _, m := range r.Match.MAC {
			k := macKey{n: m.n, b: m.addr}
			if l := p.byMAC[k]; len(l) == 0 || l[len(l)-1] != int32(i) {
				p.byMAC[k] = append(l, int32(i))
			}
		}
	}
	return p, nil
}

// MustNewPolicy is like [NewPolicy] but panics on error.
func MustNewPolicy(rules ...Rule) *Policy {
	p, err := NewPolicy(rules...)
	if err != nil {
		panic(err)
	}
	return p
}

// Rules returns a copy of the policy's rules.
func (p *Policy) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.clone()
	}
	return out
}

func (r *Rule) check() error {
	for _, m := range r.Match.MAC {
		if m.n == 0 {
			return errors.New("zero MACPattern (use ParseMACPattern)")
		}
	}
	for _, pf := range r.Match.RelayNet {
		if !pf.IsValid() {
			return errors.New("invalid relay prefix")
		}
	}
	a := &r.Action
	if a.Ignore {
		return nil
	}
	if a.ServerName != "" && len(a.ServerName) > 63 {
		return errors.New("server name longer than 63 bytes")
	}
	if a.NextServer.IsValid() && !a.NextServer.Unmap().Is4() {
		return errors.New("next server must be IPv4")
	}
	for _, o := range a.Options {
		if o.Code == 0 || o.Code == 255 {
			return fmt.Errorf("option code %d cannot be set", o.Code)
		}
		if len(o.Value) > 255 {
			return fmt.Errorf("option %d longer than 255 bytes", o.Code)
		}
	}
	if a.PXE != nil {
		if _, err := a.PXE.encode(); err != nil {
			return err
		}
	}
	if l := a.PXELinux; l != nil && (len(l.ConfigFile) > 255 || len(l.PathPrefix) > 255) {
		return errors.New("PXELINUX option longer than 255 bytes")
	}
	return nil
}

// Decision is the outcome of [Policy.Decide]. It refers to the policy's
// frozen copy of the matching rule, which nothing can change: read the
// rule with [Decision.Rule] (a copy of your own, to change as you like)
// or [Decision.RuleName]. Making a Decision allocates nothing; a Decision
// is a small value, safe to copy and to share between goroutines.
//
// Decisions come from [Policy.Decide]; the zero Decision is "no rule
// matched". To write a rule of your own into a reply with [Apply4],
// decide with a one-rule policy.
type Decision struct {
	// Index is the rule's position in the policy counted from 1, as in Why;
	// 0 when no rule matched.
	Index int
	// Why says which rule matched and on what, or that none did.
	Why string

	rule *Rule // the policy's frozen rule; nil when none matched; never written
}

// Rule returns a copy of the matching rule (the zero Rule when none
// matched). The copy shares nothing mutable with the policy (a [Template]
// is immutable and shared), so changing it changes no decision; it costs
// the allocation of the rule's lists, which Decide itself does not.
func (d Decision) Rule() Rule {
	if d.rule == nil {
		return Rule{}
	}
	return d.rule.clone()
}

// RuleName returns the matching rule's name, "" when none matched. Unlike
// Rule it copies nothing.
func (d Decision) RuleName() string {
	if d.rule == nil {
		return ""
	}
	return d.rule.Name
}

// BootFile returns the matching rule's boot file template, nil when no
// rule matched or the rule has none. A [Template] is immutable, so this
// copies nothing.
func (d Decision) BootFile() *Template {
	if d.rule == nil {
		return nil
	}
	return d.rule.Action.BootFile
}

// action returns the matching rule's action, read-only (the policy's frozen
// copy); nil when no rule matched.
func (d Decision) action() *Action {
	if d.rule == nil {
		return nil
	}
	return &d.rule.Action
}

// Matched reports whether a rule matched.
func (d Decision) Matched() bool { return d.rule != nil }

// Boot reports whether the decision gives the client boot data: a rule
// matched and does not ignore the client.
func (d Decision) Boot() bool { return d.rule != nil && !d.rule.Action.Ignore }

// Ignores reports whether the matching rule ignores the client.
func (d Decision) Ignores() bool { return d.rule != nil && d.rule.Action.Ignore }

// String returns Why.
func (d Decision) String() string { return d.Why }

// clone returns a copy of r that shares nothing mutable with it (a
// [Template] is immutable and shared).
func (r Rule) clone() Rule {
	m := &r.Match
	m.Archs = slices.Clone(m.Archs)
	m.Firmware = slices.Clone(m.Firmware)
	m.CPU = slices.Clone(m.CPU)
	m.Transport = slices.Clone(m.Transport)
	m.UserClass = slices.Clone(m.UserClass)
	m.IPXEFeatures = slices.Clone(m.IPXEFeatures)
	m.MAC = slices.Clone(m.MAC)
	m.VendorClass = slices.Clone(m.VendorClass)
	m.UUID = slices.Clone(m.UUID)
	m.RelayNet = slices.Clone(m.RelayNet)
	m.Interface = slices.Clone(m.Interface)
	a := &r.Action
	a.Options = cloneOptions(a.Options)
	a.BootParams = slices.Clone(a.BootParams)
	if a.PXE != nil {
		x := *a.PXE
		x.BootServers = slices.Clone(x.BootServers)
		for i := range x.BootServers {
			x.BootServers[i].Addrs = slices.Clone(x.BootServers[i].Addrs)
		}
		x.Menu = slices.Clone(x.Menu)
		if x.Prompt != nil {
			pr := *x.Prompt
			x.Prompt = &pr
		}
		x.Raw = cloneOptions(x.Raw)
		a.PXE = &x
	}
	if a.PXELinux != nil {
		x := *a.PXELinux
		a.PXELinux = &x
	}
	return r
}

func cloneOptions(in []Option) []Option {
	out := slices.Clone(in)
	for i := range out {
		out[i].Value = slices.Clone(out[i].Value)
	}
	return out
}

const noMatch = "no rule matched"

// Decide returns the first rule that matches r. It allocates nothing: the
// Decision refers to the policy's frozen copy of the rule.
func (p *Policy) Decide(r *Request) Decision {
	if p == nil {
		return Decision{Why: noMatch}
	}
	var cand []int32
	if p.byMAC != nil {
		if k, ok := keyOf(r.Client.MAC); ok {
			cand = p.byMAC[k]
		}
	}
	si, ci := 0, 0
	for si < len(p.scan) || ci < len(cand) {
		var i int32
		indexed := false
		if ci < len(cand) && (si >= len(p.scan) || cand[ci] < p.scan[si]) {
			i, indexed = cand[ci], true
			ci++
		} else {
			i = p.scan[si]
			si++
		}
		if p.rules[i].Match.matches(r, indexed) {
			return Decision{Index: int(i) + 1, Why: p.why[i], rule: &p.rules[i]}
		}
	}
	return Decision{Why: noMatch}
}

// Matches reports whether r satisfies m.
func (m *Match) Matches(r *Request) bool { return m.matches(r, false) }

func (m *Match) matches(r *Request, macDone bool) bool {
	c := &r.Client
	if len(m.Archs) > 0 && (!c.HasArch || !slices.Contains(m.Archs, c.Arch)) {
		return false
	}
	if len(m.Firmware) > 0 && !slices.Contains(m.Firmware, c.Firmware) {
		return false
	}
	if len(m.CPU) > 0 && !slices.Contains(m.CPU, c.CPU) {
		return false
	}
	if len(m.Transport) > 0 && !slices.Contains(m.Transport, c.Transport) {
		return false
	}
	if !m.IPXE.ok(c.IPXE) || !m.Relayed.ok(r.Relay.IsValid() && !r.Relay.IsUnspecified()) {
		return false
	}
	if len(m.UserClass) > 0 && !matchUserClass(m.UserClass, c) {
		return false
	}
	for _, f := range m.IPXEFeatures {
		if !slices.Contains(c.IPXEInfo.Features, f) {
			return false
		}
	}
	if !macDone && len(m.MAC) > 0 {
		ok := false
		for i := range m.MAC {
			if m.MAC[i].Match(c.MAC) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.VendorClass) > 0 {
		ok := false
		for _, v := range m.VendorClass {
			if strings.HasPrefix(c.VendorClass.Raw, v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.UUID) > 0 {
		ok := false
		for _, u := range m.UUID {
			if c.UUID != "" && strings.EqualFold(u, c.UUID) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.RelayNet) > 0 {
		ok := false
		relay := r.Relay.Unmap()
		for _, pf := range m.RelayNet {
			if pf.Contains(relay) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.Interface) > 0 && !slices.Contains(m.Interface, r.Interface) {
		return false
	}
	return true
}

func matchUserClass(want []string, c *archdetect.Client) bool {
	for _, w := range want {
		if len(c.UserClassRaw) > 0 && string(c.UserClassRaw) == w {
			return true
		}
		for _, u := range c.UserClasses {
			if u == w {
				return true
			}
		}
	}
	return false
}

// describe renders the match condition for explanations.
func (m *Match) describe() string {
	var parts []string
	add := func(name string, n int, f func(i int) string) {
		if n == 0 {
			return
		}
		vals := make([]string, n)
		for i := range vals {
			vals[i] = f(i)
		}
		if n == 1 {
			parts = append(parts, name+"="+vals[0])
		} else {
			parts = append(parts, name+" in {"+strings.Join(vals, ",")+"}")
		}
	}
	add("arch", len(m.Archs), func(i int) string { return strconv.Itoa(int(m.Archs[i])) })
	add("firmware", len(m.Firmware), func(i int) string { return string(m.Firmware[i]) })
	add("cpu", len(m.CPU), func(i int) string { return string(m.CPU[i]) })
	add("transport", len(m.Transport), func(i int) string { return string(m.Transport[i]) })
	if m.IPXE != Any {
		parts = append(parts, "ipxe="+m.IPXE.String())
	}
	add("user-class", len(m.UserClass), func(i int) string { return strconv.Quote(m.UserClass[i]) })
	if len(m.IPXEFeatures) > 0 {
		vals := make([]string, len(m.IPXEFeatures))
		for i, f := range m.IPXEFeatures {
			vals[i] = strconv.Itoa(int(f))
		}
		parts = append(parts, "ipxe-features all of {"+strings.Join(vals, ",")+"}")
	}
	add("mac", len(m.MAC), func(i int) string { return m.MAC[i].String() })
	add("vendor-class prefix", len(m.VendorClass), func(i int) string { return strconv.Quote(m.VendorClass[i]) })
	add("uuid", len(m.UUID), func(i int) string { return strings.ToLower(m.UUID[i]) })
	if m.Relayed != Any {
		parts = append(parts, "relayed="+m.Relayed.String())
	}
	add("relay", len(m.RelayNet), func(i int) string { return m.RelayNet[i].String() })
	add("interface", len(m.Interface), func(i int) string { return m.Interface[i] })
	if len(parts) == 0 {
		return "any client"
	}
	return strings.Join(parts, ", ")
}

// Explain returns Why followed by the facts about the client that rules can
// match on, in one line for logs.
func (d Decision) Explain(r *Request) string {
	c := &r.Client
	var b strings.Builder
	b.WriteString(d.Why)
	b.WriteString(" [mac=")
	b.WriteString(c.MAC.String())
	if c.HasArch {
		fmt.Fprintf(&b, " arch=%d", c.Arch)
	} else {
		b.WriteString(" arch=none")
	}
	fmt.Fprintf(&b, " firmware=%s cpu=%s transport=%s ipxe=%t", c.Firmware, c.CPU, c.Transport, c.IPXE)
	if c.VendorClass.Raw != "" {
		fmt.Fprintf(&b, " vendor-class=%q", c.VendorClass.Raw)
	}
	if len(c.UserClasses) > 0 {
		fmt.Fprintf(&b, " user-class=%q", c.UserClasses)
	}
	if len(c.IPXEInfo.Features) > 0 {
		fmt.Fprintf(&b, " ipxe-features=%v", c.IPXEInfo.Features)
	}
	if c.UUID != "" {
		b.WriteString(" uuid=" + c.UUID)
	}
	if r.Relay.IsValid() {
		b.WriteString(" relay=" + r.Relay.String())
	}
	if r.Interface != "" {
		b.WriteString(" interface=" + r.Interface)
	}
	b.WriteString("]")
	return b.String()
}
