package dhcpboot

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pxekit/pxekit/archdetect"
)

// policyJSON is the JSON form of a policy.
type policyJSON struct {
	Rules []Rule `json:"rules"`
}

// maxPolicyJSON bounds the size of a policy file ParsePolicy reads.
const maxPolicyJSON = 64 << 20

// ParsePolicy reads a policy from JSON, as [Policy.MarshalJSON] writes it:
//
//	{"rules": [
//	  {"name": "lab-uefi",
//	   "match": {"archs": [7, 9], "ipxe": "no", "mac": ["52:54:00"]},
//	   "action": {"boot_file": "ipxe.efi", "next_server": "10.0.0.5"}},
//	  {"name": "ipxe", "match": {"ipxe": "yes"},
//	   "action": {"boot_file": "http://{{server}}/boot.ipxe?mac={{mac_hyphen}}"}},
//	  {"name": "rest", "action": {"ignore": true}}
//	]}
//
// Field names are the snake_case json tags of [Rule], [Match] and [Action];
// MAC patterns, templates, addresses and prefixes are strings; option
// values are {"code": 252, "text": "..."} or {"code": 43, "hex": "060108ff"}.
// Unknown fields are errors, so a typo cannot silently widen a rule.
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > maxPolicyJSON {
		return nil, errors.New("dhcpboot: policy JSON larger than 64 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pj policyJSON
	if err := dec.Decode(&pj); err != nil {
		return nil, fmt.Errorf("dhcpboot: policy JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("dhcpboot: policy JSON: data after the policy object")
	}
	return NewPolicy(pj.Rules...)
}

// MarshalJSON writes the policy in the form [ParsePolicy] reads.
func (p *Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{Rules: p.rules})
}

type optionJSON struct {
	Code uint8   `json:"code"`
	Hex  *string `json:"hex,omitempty"`
	Text *string `json:"text,omitempty"`
}

// MarshalJSON writes {"code": n, "text": "..."} for printable values and
// {"code": n, "hex": "..."} for others.
func (o Option) MarshalJSON() ([]byte, error) {
	j := optionJSON{Code: o.Code}
	v := string(o.Value)
	printable := len(v) > 0
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			printable = false
			break
		}
	}
	if printable {
		j.Text = &v
	} else {
		h := hex.EncodeToString(o.Value)
		j.Hex = &h
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads {"code": n, "text": "..."} or {"code": n, "hex": "..."}.
func (o *Option) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j optionJSON
	if err := dec.Decode(&j); err != nil {
		return err
	}
	switch {
	case j.Hex != nil && j.Text != nil:
		return fmt.Errorf("option %d: both hex and text", j.Code)
	case j.Hex != nil:
		v, err := hex.DecodeString(*j.Hex)
		if err != nil {
			return fmt.Errorf("option %d: %w", j.Code, err)
		}
		*o = Option{Code: j.Code, Value: v}
	case j.Text != nil:
		*o = Option{Code: j.Code, Value: []byte(*j.Text)}
	default:
		*o = Option{Code: j.Code, Value: []byte{}}
	}
	return nil
}

// IPXEFeatures is a list of iPXE feature codes; in JSON it is a list of
// names ("http", "https", "efi", ...), numbers also accepted.
type IPXEFeatures []archdetect.IPXEFeature

// MarshalJSON writes the feature names.
func (f IPXEFeatures) MarshalJSON() ([]byte, error) {
	names := make([]string, len(f))
	for i, x := range f {
		names[i] = x.String()
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads names or numbers.
func (f *IPXEFeatures) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(IPXEFeatures, 0, len(raw))
	for _, r := range raw {
		var n uint8
		if err := json.Unmarshal(r, &n); err == nil {
			out = append(out, archdetect.IPXEFeature(n))
			continue
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return fmt.Errorf("iPXE feature %s: want a name or a number 0-255", r)
		}
		x, err := archdetect.ParseIPXEFeature(s)
		if err != nil {
			return err
		}
		out = append(out, x)
	}
	*f = out
	return nil
}
