// Package keyring encrypts the table's secrets (access_token,
// refresh_token, client_secret) with AES-256-GCM.
//
// Keys come from TOKENS_ENCRYPTION_KEYS as "id:base64key[,id:base64key...]":
// the first key encrypts, every key decrypts, so keys can be rotated by
// putting a new one first and running `worker rekey`. A sealed value names
// its key and is bound to its row and column through GCM's associated
// data, so a ciphertext copied into another row or column does not open.
// Values without the prefix are plaintext written before encryption was
// turned on; they are read as they are and sealed on their next write.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every sealed value: "twenc:v1:<key id>:<base64 nonce+ciphertext>".
const Prefix = "twenc:v1:"

// ErrUnknownKey is returned for a value sealed under a key that is not in
// the keyring (or when there is no keyring at all).
var ErrUnknownKey = errors.New("encrypted with a key that is not in TOKENS_ENCRYPTION_KEYS")

// Keyring holds the encryption keys. A nil *Keyring is valid: it writes
// plaintext and cannot open sealed values.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// Parse reads TOKENS_ENCRYPTION_KEYS. An empty string gives a nil keyring.
func Parse(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" || strings.ContainsAny(id, ": ") {
			return nil, fmt.Errorf("TOKENS_ENCRYPTION_KEYS entry %d: want id:base64key", i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			raw, err = base64.RawURLEncoding.DecodeString(b64)
		}
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("TOKENS_ENCRYPTION_KEYS key %q: want 32 bytes, base64-encoded (openssl rand -base64 32)", id)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("TOKENS_ENCRYPTION_KEYS: key id %q appears twice", id)
		}
		block, _ := aes.NewCipher(raw)
		aead, _ := cipher.NewGCM(block)
		k.aeads[id] = aead
		if i == 0 {
			k.primary = id
		}
	}
	return k, nil
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

// AAD binds a sealed value to its row and column.
func AAD(rowID, column string) []byte { return []byte("tokenwarden:" + rowID + ":" + column) }

// Seal encrypts plaintext under the primary key. A nil keyring returns the
// plaintext, and so does an empty plaintext (nothing to protect).
func (k *Keyring) Seal(plaintext string, aad []byte) (string, error) {
	if k == nil || plaintext == "" {
		return plaintext, nil
	}
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), aad)
	return Prefix + k.primary + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Open decrypts a stored value; a value without the prefix is returned as
// it is. Errors never include the value.
func (k *Keyring) Open(stored string, aad []byte) (string, error) {
	rest, sealed := strings.CutPrefix(stored, Prefix)
	if !sealed {
		return stored, nil
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("malformed encrypted value")
	}
	if k == nil {
		return "", fmt.Errorf("%w (key %q; TOKENS_ENCRYPTION_KEYS is not set)", ErrUnknownKey, id)
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w (key %q)", ErrUnknownKey, id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", errors.New("malformed encrypted value")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return "", fmt.Errorf("encrypted value does not open with key %q: wrong key, or copied from another row or column", id)
	}
	return string(plain), nil
}

// KeyID returns the id of the key a stored value is sealed with, "" for
// plaintext.
func KeyID(stored string) string {
	rest, ok := strings.CutPrefix(stored, Prefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ":")
	return id
}
