package identity

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"cxt/appliance/notify"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// legacyIterations is the count hashes were made with before the floor rose.
const legacyIterations = 210_000

// kdfState is a state machine with the identity commands and one test-only
// command that stores an account as it is, the way accounts made before the
// floor rose are stored.
type kdfState struct {
	t     *testing.T
	keys  *keyring.Keyring
	st    *state.State
	index uint64
}

const cmdPutAsIs = "test.put_account_as_is"

func newKDFState(t *testing.T) *kdfState {
	t.Helper()
	master := keyring.NewMasterKey()
	keys, err := keyring.New(master)
	if err != nil {
		t.Fatal(err)
	}
	reg := state.NewRegistry()
	Register(reg)
	notify.Register(reg)
	reg.Handle(cmdPutAsIs, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var a Account
		if err := json.Unmarshal(cmd.Body, &a); err != nil {
			return nil, err
		}
		return nil, put(tx, AccountsBucket, []byte(a.ID), a)
	})
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), reg, keys, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k := &kdfState{t: t, keys: keys, st: st}
	install, _ := state.InstallTermCommand(master, 1, keyring.NewSecret(), time.Now())
	k.apply(install)
	return k
}

func (k *kdfState) apply(cmd *state.Command) state.Result {
	k.t.Helper()
	data, err := state.SealCommand(k.keys, cmd)
	if err != nil {
		k.t.Fatal(err)
	}
	k.index++
	res, err := k.st.ApplyBatch([]state.Entry{{Index: k.index, Term: 1, Commands: [][]byte{data}}})
	if err != nil {
		k.t.Fatal(err)
	}
	return res[0][0]
}

func (k *kdfState) cmd(typ string, body any) state.Result {
	k.t.Helper()
	b, _ := json.Marshal(body)
	return k.apply(state.NewCommand(typ, b, time.Now()))
}

func (k *kdfState) account(id string) *Account {
	k.t.Helper()
	var a Account
	if err := k.st.View(func(r *state.ReadTx) error {
		b, err := r.Get(AccountsBucket, []byte(id))
		if err != nil || b == nil {
			k.t.Fatalf("account %s: %v", id, err)
		}
		return json.Unmarshal(b, &a)
	}); err != nil {
		k.t.Fatal(err)
	}
	return &a
}

func TestNewPasswordHashesTakeAtLeast600000Iterations(t *testing.T) {
	if sm.PasswordIterations < 600_000 {
		t.Fatalf("PBKDF2-HMAC-SM3 at %d iterations, below OWASP's 600,000", sm.PasswordIterations)
	}
	h, err := HashPassword("Correct-Horse-1!")
	if err != nil || h.Iter != sm.PasswordIterations || !h.Verify("Correct-Horse-1!") {
		t.Fatalf("HashPassword: iter %d, %v", h.Iter, err)
	}
	if !(Hashing{}).Outdated(PasswordHash{Iter: legacyIterations}) || (Hashing{}).Outdated(h) {
		t.Fatal("outdated is not \"fewer iterations than new hashes get\"")
	}
}

func TestTheStateMachineRefusesNewHashesBelowTheFloor(t *testing.T) {
	k := newKDFState(t)
	weak, _ := hashPassword("Correct-Horse-1!", legacyIterations)
	strong, _ := HashPassword("Correct-Horse-1!")
	mk := func(id string, h PasswordHash) CreateAccount {
		return CreateAccount{Account: Account{ID: id, Username: id, Roles: []string{Worker}, Password: h}, NameIndex: []byte("idx-" + id)}
	}
	if r := k.cmd(CmdCreateAccount, mk("weak", weak)); r.Err == nil || r.Err.Code != "invalid_request" {
		t.Fatalf("an account with a %d-iteration hash: %+v", legacyIterations, r)
	}
	if r := k.cmd(CmdCreateAccount, mk("strong", strong)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := k.cmd(CmdSetPassword, SetPassword{Account: "strong", Hash: weak}); r.Err == nil || r.Err.Code != "invalid_request" {
		t.Fatalf("a password set with a %d-iteration hash: %+v", legacyIterations, r)
	}
	if got := k.account("strong").Password; got.Iter != sm.PasswordIterations {
		t.Fatalf("the refused hash was stored: %d iterations", got.Iter)
	}
}

func TestALoginReDerivesAHashStoredBeforeTheFloorRose(t *testing.T) {
	k := newKDFState(t)
	const pw = "Correct-Horse-1!"
	legacy, _ := hashPassword(pw, legacyIterations)
	now := time.Now()
	k.cmd(cmdPutAsIs, Account{ID: "old", Username: "old", Roles: []string{Worker}, Password: legacy, Created: now, PasswordChanged: now})
	rehash, _ := HashPassword(pw)
	login := func(re *PasswordHash, of []byte) state.Result {
		tok := make([]byte, 32)
		tok[0] = byte(k.index)
		return k.cmd(CmdLoginOK, LoginOK{NameIndex: []byte("idx-old"), TokenHash: tok,
			Session: Session{Account: "old", Created: now, Expires: now.Add(time.Hour)}, Rehash: re, RehashOf: of})
	}
	// A re-derived hash that is itself too weak fails the login.
	weak, _ := hashPassword(pw, legacyIterations+1)
	if r := login(&weak, legacy.Salt); r.Err == nil {
		t.Fatal("a login carrying a weak re-derived hash was applied")
	}
	// One for a hash the account no longer has (the password changed) is ignored.
	if r := login(&rehash, []byte("another salt....")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := k.account("old").Password; got.Iter != legacyIterations {
		t.Fatalf("a re-derived hash replaced another password: %d", got.Iter)
	}
	if r := login(&rehash, legacy.Salt); r.Err != nil {
		t.Fatal(r.Err)
	}
	a := k.account("old")
	if a.Password.Iter != sm.PasswordIterations || !a.Password.Verify(pw) {
		t.Fatalf("after the login: %d iterations, verifies %v", a.Password.Iter, a.Password.Verify(pw))
	}
	if len(a.PasswordHistory) != 0 || !a.PasswordChanged.Equal(now.UTC()) && !a.PasswordChanged.Equal(now) {
		t.Fatalf("re-deriving changed the password's history or date: %+v", a)
	}
}
