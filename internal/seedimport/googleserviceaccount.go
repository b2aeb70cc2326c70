package seedimport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/oauth2/google"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// maxKeyFile bounds a service account key file: Google's are about 2.3 KB,
// and a path named by mistake (a log, /dev/zero) must fail at once.
const maxKeyFile = 64 << 10

// googleServiceAccount reads a Google service account's JSON key, the file
// the console downloads, as it is, with x/oauth2/google: one jwt_bearer
// connection of the google_service_account template whose issuer
// (client_id) is the account's client_email, whose client_secret is its
// PEM private key (sealed at import like every secret), whose token_url is
// the key's token_uri, with the key id and, for domain-wide delegation,
// the user to act as (params key_id and subject).
func (o *Options) googleServiceAccount() ([]connfile.Record, error) {
	if o.File == "" {
		return nil, errors.New("give the service account's key file: worker import --from google-service-account KEY.json --name N --scopes S")
	}
	if o.Name == "" {
		return nil, errors.New("--name is required")
	}
	scopes := strings.FieldsFunc(o.Scopes, func(r rune) bool { return r == ' ' || r == ',' })
	if len(scopes) == 0 {
		return nil, errors.New("--scopes is required: Google issues a service account's token for the scopes it asks")
	}
	data, err := readKeyFile(o.File)
	if err != nil {
		return nil, err
	}
	// JWTConfigFromJSON's own errors may quote the file's fields: only
	// the file is named.
	cfg, err := google.JWTConfigFromJSON(data, scopes...)
	if err != nil || cfg.Email == "" || len(cfg.PrivateKey) == 0 {
		return nil, fmt.Errorf("%s: not a Google service account key (a JSON key file of type service_account)", o.File)
	}
	params := map[string]any{}
	if cfg.PrivateKeyID != "" {
		params["key_id"] = cfg.PrivateKeyID
	}
	if o.Subject != "" {
		params["subject"] = o.Subject
	}
	return []connfile.Record{{
		Name:         o.Name,
		Provider:     ptr("google_service_account"),
		Grant:        ptr(model.GrantJWTBearer),
		TokenURL:     ptr(cfg.TokenURL),
		ClientID:     ptr(cfg.Email),
		ClientSecret: ptr(string(cfg.PrivateKey)),
		Scopes:       ptr(strings.Join(cfg.Scopes, " ")),
		Params:       params,
	}}, nil
}

// readKeyFile reads at most maxKeyFile bytes of path.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: not a Google service account key (larger than %d KiB)", path, maxKeyFile>>10)
	}
	return data, nil
}
