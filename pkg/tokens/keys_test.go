package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	t.Parallel()
	keys, err := ParseKeys(sealedV1Key + ", new:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	if err != nil || len(keys) != 2 || keys[0].ID != "old" || keys[1].ID != "new" || keys[0].Secret[31] != 31 {
		t.Fatalf("ParseKeys = %v, %v", keys, err)
	}
	if keys, err := ParseKeys(""); keys != nil || err != nil {
		t.Fatalf("ParseKeys(\"\") = %v, %v; want none", keys, err)
	}
	for spec, want := range map[string]string{
		"nocolon":                       "want id:base64key",
		"k:c2hvcnQ":                     "want 32 bytes",
		sealedV1Key + "," + sealedV1Key: "appears twice",
	} {
		if _, err := ParseKeys(spec); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "AAECAwQF") {
			t.Errorf("ParseKeys: %v, want %q and no key bytes", err, want)
		}
	}
	if _, err := Open(t.Context(), "", &Options{EncryptionKeys: []Key{{ID: "short", Secret: []byte("0123")}}}); err == nil ||
		!strings.Contains(err.Error(), "want 32 bytes") {
		t.Fatalf("Open with a short key: %v", err)
	}
}

// Printing, logging or encoding Options shows a key's id, never its bytes,
// in any encoding.
func TestKeysNeverPrinted(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef-SECRET-key-byte")
	opts := Options{EncryptionKeys: []Key{{ID: "k1", Secret: secret}}}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&out, verb+"\n", opts)
		fmt.Fprintf(&out, verb+"\n", opts.EncryptionKeys[0])
	}
	b, err := json.Marshal(opts.EncryptionKeys)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(b)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("opts", "opts", opts)
	slog.New(slog.NewTextHandler(&out, nil)).Info("opts", "opts", opts)
	decimal := make([]string, len(secret)) // how %v prints a []byte
	for i, b := range secret {
		decimal[i] = strconv.Itoa(int(b))
	}
	for _, enc := range []string{string(secret), "SECRET", hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret),
		strings.Join(decimal, " ")} {
		if strings.Contains(out.String(), enc) {
			t.Fatalf("a key's bytes were printed, in the encoding %q starts with", enc[:4])
		}
	}
	if !strings.Contains(out.String(), "k1") {
		t.Fatalf("the key's id was not printed:\n%s", out.String())
	}
}
