// Package keyring encrypts the table's secrets (access_token,
// refresh_token, client_secret) with AES-256-GCM.
//
// Keys come from TOKENS_ENCRYPTION_KEYS as "id:base64key[,id:base64key...]":
// the first key encrypts, every key decrypts, so keys can be rotated by
// putting a new one first and running `worker rekey`. A sealed value names
// its key and is bound through GCM's associated data to a Binding: its row,
// its column and, for the secrets sent to a token endpoint, the identity
// fields that decide where they are sent. A ciphertext copied into another
// row or column, or left in a row whose identity was changed, does not
// open. Values without a prefix are plaintext written before encryption was
// turned on; they are read as they are and sealed on their next write.
//
// There are two formats. twenc:v1 is bound to row and column only: the
// first release wrote every value so, and Seal still writes a value whose
// binding has no identity fields (the access token) so, which consumers of
// that release keep reading. twenc:v2 is bound to the whole Binding. The
// two associated data never coincide, so relabelling a v2 value as v1 does
// not open it; `worker rekey` rewrites the v1 values of bound columns.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every sealed value, in either format.
const Prefix = "twenc:"

const (
	// prefixV1: "twenc:v1:<key id>:<base64 nonce+ciphertext>".
	prefixV1 = Prefix + "v1:"
	// prefixV2: "twenc:v2:<key id>:<hints>:<base64 nonce+ciphertext>".
	prefixV2 = Prefix + "v2:"
)

// ErrUnknownKey is returned for a value sealed under a key that is not in
// the keyring (or when there is no keyring at all).
var ErrUnknownKey = errors.New("encrypted with a key that is not in TOKENS_ENCRYPTION_KEYS")

// ErrMismatch is wrapped by the error for a value that names a key of the
// keyring but does not open with it under the binding it is read with: the
// key's bytes are not the ones it was sealed with, or the value was copied
// from elsewhere, or a bound identity field changed since it was sealed.
var ErrMismatch = errors.New("encrypted value does not open")

// Keyring holds the encryption keys. A nil *Keyring is valid: it writes
// plaintext and cannot open sealed values.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	checks  map[string]string
}

// Key is one encryption key: the id sealed values name, and its 32 bytes.
type Key struct {
	ID     string
	Secret []byte
}

// Parse reads TOKENS_ENCRYPTION_KEYS. An empty string gives a nil keyring.
func Parse(spec string) (*Keyring, error) {
	keys, err := ParseKeys(spec)
	if err != nil {
		return nil, err
	}
	return New(keys)
}

// ParseKeys reads TOKENS_ENCRYPTION_KEYS, "id:base64key[,id:base64key...]",
// into its keys in order. An empty string gives none.
func ParseKeys(spec string) ([]Key, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var keys []Key
	seen := map[string]bool{}
	for i, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !validID(id) {
			return nil, fmt.Errorf("TOKENS_ENCRYPTION_KEYS entry %d: want id:base64key", i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			raw, err = base64.RawURLEncoding.DecodeString(b64)
		}
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("TOKENS_ENCRYPTION_KEYS key %q: want 32 bytes, base64-encoded (openssl rand -base64 32)", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("TOKENS_ENCRYPTION_KEYS: key id %q appears twice", id)
		}
		seen[id] = true
		keys = append(keys, Key{ID: id, Secret: raw})
	}
	return keys, nil
}

// validID reports whether id can name a key in a sealed value, where ':'
// ends it.
func validID(id string) bool { return id != "" && !strings.ContainsAny(id, ": ") }

// New returns the keyring of keys: the first seals, every one opens. No
// keys give a nil keyring.
func New(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}, checks: map[string]string{}, primary: keys[0].ID}
	for _, key := range keys {
		switch {
		case !validID(key.ID):
			return nil, fmt.Errorf("encryption key id %q: want a non-empty id without ':' or spaces", key.ID)
		case len(key.Secret) != 32:
			return nil, fmt.Errorf("encryption key %q: want 32 bytes, got %d", key.ID, len(key.Secret))
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("encryption key id %q appears twice", key.ID)
		}
		block, _ := aes.NewCipher(key.Secret)
		aead, _ := cipher.NewGCM(block)
		k.aeads[key.ID] = aead
		k.checks[key.ID] = checkValue(key.Secret)
	}
	return k, nil
}

// checkValue identifies a key's bytes without revealing them: an HMAC of a
// constant under the key, truncated to 128 bits. It lets the table record
// which bytes a key id stands for, so that the same id with other bytes is
// refused before it seals or opens anything.
func checkValue(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tokenwarden key check value"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Enabled reports whether values are sealed on write.
func (k *Keyring) Enabled() bool { return k != nil }

// Primary returns the id of the key that seals.
func (k *Keyring) Primary() string {
	if k == nil {
		return ""
	}
	return k.primary
}

// CheckValue returns the check value of the key with this id (hex), and
// whether the keyring has that key.
func (k *Keyring) CheckValue(id string) (string, bool) {
	if k == nil {
		return "", false
	}
	v, ok := k.checks[id]
	return v, ok
}

// Has reports whether the keyring holds the key with this id.
func (k *Keyring) Has(id string) bool {
	_, ok := k.CheckValue(id)
	return ok
}

// Field is one named identity field of a Binding.
type Field struct{ Name, Value string }

// Binding is what a sealed value belongs to; it is the value's GCM
// associated data, so the value opens only under the binding it was sealed
// with.
type Binding struct {
	row, column string
	identity    []Field
}

// AAD returns the binding of a value to its row, its column and the given
// identity fields, in order.
func AAD(rowID, column string, identity ...Field) Binding {
	return Binding{row: rowID, column: column, identity: identity}
}

// bound reports whether b has identity fields, which only format v2 binds.
func (b Binding) bound() bool { return len(b.identity) > 0 }

// v1 is the associated data of format v1.
func (b Binding) v1() []byte { return []byte("tokenwarden:" + b.row + ":" + b.column) }

// v2 is the associated data of Seal's format: every part length-prefixed,
// so that no two bindings share their bytes, and none is a v1's.
func (b Binding) v2() []byte {
	out := []byte("tokenwarden:v2\x00")
	add := func(s string) {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	add(b.row)
	add(b.column)
	for _, f := range b.identity {
		add(f.Name)
		add(f.Value)
	}
	return out
}

// hints are short, unkeyed hashes of each identity field, stored in clear
// next to the ciphertext. They protect nothing (the fields themselves are
// in clear in the same row); they let a value that no longer opens say
// which field changed since it was sealed.
func (b Binding) hints() string {
	parts := make([]string, len(b.identity))
	for i, f := range b.identity {
		sum := sha256.Sum256([]byte(f.Name + "\x00" + f.Value))
		parts[i] = hex.EncodeToString(sum[:3])
	}
	return strings.Join(parts, ".")
}

// changed names the identity fields whose hint differs from stored.
func (b Binding) changed(stored string) []string {
	now := strings.Split(b.hints(), ".")
	was := strings.Split(stored, ".")
	if len(now) != len(was) || len(b.identity) == 0 {
		return nil
	}
	var out []string
	for i, f := range b.identity {
		if now[i] != was[i] {
			out = append(out, f.Name)
		}
	}
	return out
}

// Seal encrypts plaintext under the primary key, bound to b: in format v2
// if b has identity fields, else v1. A nil keyring returns the plaintext,
// and so does an empty plaintext (nothing to protect).
func (k *Keyring) Seal(plaintext string, b Binding) (string, error) {
	if k == nil || plaintext == "" {
		return plaintext, nil
	}
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	if !b.bound() {
		sealed := aead.Seal(nonce, nonce, []byte(plaintext), b.v1())
		return prefixV1 + k.primary + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), b.v2())
	return prefixV2 + k.primary + ":" + b.hints() + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// sealed is a stored value taken apart.
type sealed struct {
	v2        bool
	id, hints string
	b64       string
}

// parse splits a stored value; ok is false for plaintext.
func parse(stored string) (s sealed, ok bool, err error) {
	rest, isV1 := strings.CutPrefix(stored, prefixV1)
	if !isV1 {
		if rest, ok = strings.CutPrefix(stored, prefixV2); !ok {
			return s, false, nil
		}
		s.v2 = true
	}
	var found bool
	if s.id, rest, found = strings.Cut(rest, ":"); !found {
		return s, true, errors.New("malformed encrypted value")
	}
	if s.v2 {
		if s.hints, rest, found = strings.Cut(rest, ":"); !found {
			return s, true, errors.New("malformed encrypted value")
		}
	}
	s.b64 = rest
	return s, true, nil
}

// Open decrypts a stored value sealed under b; a value without a prefix
// is returned as it is. Errors never include the value.
func (k *Keyring) Open(stored string, b Binding) (string, error) {
	s, isSealed, err := parse(stored)
	if err != nil {
		return "", err
	}
	if !isSealed {
		return stored, nil
	}
	if k == nil {
		return "", fmt.Errorf("%w (key %q; TOKENS_ENCRYPTION_KEYS is not set)", ErrUnknownKey, s.id)
	}
	aead, ok := k.aeads[s.id]
	if !ok {
		return "", fmt.Errorf("%w (key %q)", ErrUnknownKey, s.id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(s.b64)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", errors.New("malformed encrypted value")
	}
	aad := b.v1()
	if s.v2 {
		aad = b.v2()
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		if changed := b.changed(s.hints); s.v2 && len(changed) > 0 {
			return "", fmt.Errorf("%w with key %q: the row's %s changed since it was sealed", ErrMismatch, s.id, strings.Join(changed, " and "))
		}
		return "", fmt.Errorf("%w with key %q: wrong key, or copied from another row or column", ErrMismatch, s.id)
	}
	return string(plain), nil
}

// KeyID returns the id of the key a stored value is sealed with, "" for
// plaintext.
func KeyID(stored string) string {
	s, _, _ := parse(stored)
	return s.id
}

// Current reports whether a stored value is sealed under the primary key
// in the format Seal writes for b: `worker rekey` leaves such a value as it
// is.
func (k *Keyring) Current(stored string, b Binding) bool {
	s, ok, err := parse(stored)
	return ok && err == nil && s.v2 == b.bound() && s.id == k.Primary()
}
