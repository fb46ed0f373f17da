package datadir

import (
	"fmt"

	"cxt/appliance/channel"
)

// Channel kinds.
const (
	ChannelSandbox = "sandbox" // the embedded simulated bank (default)
	ChannelFile    = "file"    // payment files out, result files in (channel.FileBank)
)

// Channel is node.json's payment channel. A file channel names the folder
// payment files go to — the one place the appliance writes payees' names
// and card numbers in the clear — and the folder the bank drops result
// files into (docs/payouts.md). Every node of a cluster needs the
// same section: the channel's name is on every payment the state machine
// books.
type Channel struct {
	Kind     string `json:"kind,omitempty"`     // sandbox (default) or file
	Name     string `json:"name,omitempty"`     // file: the channel's name (default "file")
	Outbound string `json:"outbound,omitempty"` // file: payment files, plaintext names and cards
	Inbound  string `json:"inbound,omitempty"`  // file: result files from the bank
}

// ChannelName checks the section and returns the name of the channel it
// configures: what payments and the clearing account are booked under.
func (n *Node) ChannelName() (string, error) {
	c := n.Channel
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("datadir: %s channel: "+format, append([]any{n.Path(NodeFile)}, args...)...)
	}
	switch c.Kind {
	case "", ChannelSandbox:
		if c.Name != "" || c.Outbound != "" || c.Inbound != "" {
			return bad("the sandbox takes no name or folders (kind \"file\" does)")
		}
		return ChannelSandbox, nil
	case ChannelFile:
		if c.Outbound == "" || c.Inbound == "" {
			return bad("a file channel needs its outbound folder (payment files: names and card numbers in the clear, written only there) and its inbound folder (result files)")
		}
		name := c.Name
		if name == "" {
			name = channel.DefaultFileBankName
		}
		if !channel.ValidName(name) || name == ChannelSandbox {
			return bad("name %q: 1 to 32 of a-z, 0-9, - and _, not \"sandbox\"", name)
		}
		return name, nil
	}
	return bad("kind %q: sandbox or file", c.Kind)
}
