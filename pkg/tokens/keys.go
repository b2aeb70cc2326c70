package tokens

import (
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
)

// Key is an encryption key the worker seals tokens with.
type Key struct {
	// ID names the key in the values it sealed.
	ID string
	// Secret is the key's 32 bytes. It never leaves through fmt (see
	// Format) or encoding/json.
	Secret []byte `json:"-"`
}

// Format prints the key's id only, whatever the verb, so that printing or
// logging Options cannot reveal a key.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "tokens.Key{ID:%q}", k.ID) }

// ParseKeys reads keys in the format of the worker's TOKENS_ENCRYPTION_KEYS,
// "id:base64key[,id:base64key...]", each key 32 bytes. An empty string
// gives none.
func ParseKeys(s string) ([]Key, error) {
	parsed, err := keyring.ParseKeys(s)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if len(parsed) == 0 {
		return nil, nil
	}
	keys := make([]Key, len(parsed))
	for i, k := range parsed {
		keys[i] = Key(k)
	}
	return keys, nil
}

func toKeyring(keys []Key) []keyring.Key {
	out := make([]keyring.Key, len(keys))
	for i, k := range keys {
		out[i] = keyring.Key(k)
	}
	return out
}
