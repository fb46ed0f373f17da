// Package statetest runs a replicated state machine inside a test: a fresh
// state file with its first key term installed and the parties' command set
// spoken, commands applied one log entry each, as a node would apply them.
package statetest

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// Machine is a state machine under test.
type Machine struct {
	TB    testing.TB
	Keys  *keyring.Keyring
	State *state.State
	// Now is the time commands are proposed at; zero means the clock's.
	Now   time.Time
	index uint64
}

// New opens a state with register's buckets and commands, installs key
// term 1 and raises the command set to the highest the registry speaks.
func New(tb testing.TB, register func(*state.Registry)) *Machine {
	tb.Helper()
	return NewAt(tb, 0, register)
}

// NewAt is New with the command set raised to set only (0: the highest the
// registry speaks): a world of a cluster not upgraded yet.
func NewAt(tb testing.TB, set uint32, register func(*state.Registry)) *Machine {
	tb.Helper()
	master := keyring.NewMasterKey()
	keys, err := keyring.New(master)
	if err != nil {
		tb.Fatal(err)
	}
	reg := state.NewRegistry()
	register(reg)
	st, err := state.Open(filepath.Join(tb.TempDir(), "state.db"), reg, keys, master)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	m := &Machine{TB: tb, Keys: keys, State: st}
	install, err := state.InstallTermCommand(master, 1, keyring.NewSecret(), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	m.Apply(install)
	if set == 0 {
		set = st.Speaks()
	}
	m.Apply(state.CommandSetCommand(set, time.Now()))
	return m
}

// Apply seals cmd as a proposer would and applies it as the next entry.
func (m *Machine) Apply(cmd *state.Command) state.Result {
	m.TB.Helper()
	data, err := state.SealCommand(m.Keys, cmd)
	if err != nil {
		m.TB.Fatal(err)
	}
	m.index++
	res, err := m.State.ApplyBatch([]state.Entry{{Index: m.index, Term: 1, Commands: [][]byte{data}}})
	if err != nil {
		m.TB.Fatal(err)
	}
	return res[0][0]
}

// ApplyEntry seals cmds and applies them as one log entry, as a leader
// batches proposals that arrive together: each command sees the writes of
// those before it.
func (m *Machine) ApplyEntry(cmds ...*state.Command) []state.Result {
	m.TB.Helper()
	var data [][]byte
	for _, cmd := range cmds {
		d, err := state.SealCommand(m.Keys, cmd)
		if err != nil {
			m.TB.Fatal(err)
		}
		data = append(data, d)
	}
	m.index++
	res, err := m.State.ApplyBatch([]state.Entry{{Index: m.index, Term: 1, Commands: data}})
	if err != nil {
		m.TB.Fatal(err)
	}
	return res[0]
}

// Send applies a command of type typ whose body is body as JSON.
func (m *Machine) Send(typ string, body any) state.Result {
	m.TB.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		m.TB.Fatal(err)
	}
	now := m.Now
	if now.IsZero() {
		now = time.Now()
	}
	return m.Apply(state.NewCommand(typ, b, now))
}

// Code is a refusal's code, "" for none.
func Code(rej *state.Rejection) string {
	if rej == nil {
		return ""
	}
	return rej.Code
}
