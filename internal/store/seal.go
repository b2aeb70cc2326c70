package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// The statements of this file beyond store.go's list.
var (
	identitiesSQL   = query("identities")
	sealedUnderSQL  = query("sealed_under")
	fillKeyCheckSQL = query("fill_key_check")
)

// ErrRowChanged is wrapped by the error for a sealed secret that does not
// open in its row: once the keys have been checked against the table
// (checkKeys), that means the row's identity or the value itself was
// changed behind tokenwarden's back, and its secrets must not be sent.
var ErrRowChanged = errors.New("was the row changed outside tokenwarden? (`worker import` re-seals a legitimate change)")

// Identity is what a connection's refresh token and client secret are
// sealed bound to besides their row and column: what decides where they
// are sent. A database writer without the key who points a row elsewhere
// (another token_url, client_id, provider or params) leaves secrets that
// no longer open, so the worker refuses the row instead of sending them.
//
// token_url is bound as the row holds it (NULL as ""), with the provider's
// name, rather than resolved against the template: templates are code and
// deployment configuration, out of a database writer's reach, and binding
// the resolved URL would lock every connection of a provider out the day a
// release moves its template's endpoint. params are bound because they
// fill the template's placeholders, which may be in the host.
type Identity struct {
	Provider string `json:"provider"`
	TokenURL string `json:"token_url,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// Params is the row's params in canonical form (canonicalJSON).
	Params string `json:"params,omitempty"`
	// Grant is the row's grant, "" for refresh_token: a refresh-token row
	// binds nothing more, so values sealed before grants existed still open.
	Grant string `json:"grant,omitempty"`
}

// IdentityOf returns the identity of a row as read from the table.
func IdentityOf(t *model.OAuthToken) *Identity {
	return &Identity{Provider: t.Provider, TokenURL: Str(t.TokenURL), ClientID: Str(t.ClientID),
		Params: canonicalJSON(t.Params), Grant: grantIdentity(t.Grant)}
}

// grantIdentity is a grant as Identity binds it: the default binds nothing.
func grantIdentity(g string) string {
	if g == model.GrantRefreshToken {
		return ""
	}
	return g
}

func (id *Identity) fields() []keyring.Field {
	f := []keyring.Field{{Name: "provider", Value: id.Provider}, {Name: "token_url", Value: id.TokenURL},
		{Name: "client_id", Value: id.ClientID}, {Name: "params", Value: id.Params}}
	if id.Grant != "" {
		f = append(f, keyring.Field{Name: "grant", Value: id.Grant})
	}
	return f
}

// canonicalJSON spells equal JSON values alike: PostgreSQL returns jsonb
// in its own spelling, not the one that was imported. Values are compared
// as Go decodes them, which is how the provider code reads params.
func canonicalJSON(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// binding is what the value in col of row id is sealed bound to. The
// access token is bound to its row and column only: consumers open it
// (pkg/tokens) and may read neither token_url nor client_id nor params
// (sql/roles.sql), and it is sent to the API it is for, never to the token
// endpoint that the identity names.
func binding(id uuid.UUID, ident *Identity, col string) keyring.Binding {
	if col == "access_token" {
		return keyring.AAD(id.String(), col)
	}
	return keyring.AAD(id.String(), col, ident.fields()...)
}

// unseal opens the row's sealed secrets in place.
func (s *Store) unseal(row *model.OAuthToken) error {
	var ident *Identity
	for _, c := range [...]struct {
		col string
		p   **model.Secret
	}{{"refresh_token", &row.RefreshToken}, {"client_secret", &row.ClientSecret}, {"access_token", &row.AccessToken}} {
		if *c.p == nil {
			continue
		}
		if ident == nil && c.col != "access_token" {
			ident = IdentityOf(row)
		}
		plain, err := s.keys.Open(string(**c.p), binding(row.ID, ident, c.col))
		if errors.Is(err, keyring.ErrMismatch) {
			return fmt.Errorf("%s of %s: %w: %w", c.col, row.Name, err, ErrRowChanged)
		}
		if err != nil {
			return fmt.Errorf("%s of %s: %w", c.col, row.Name, err)
		}
		v := model.Secret(plain)
		*c.p = &v
	}
	return nil
}

// sealPtr seals *p bound to its row's identity and column; nil stays nil.
func (s *Store) sealPtr(id uuid.UUID, ident *Identity, col string, p *string) (*string, error) {
	if p == nil {
		return nil, nil
	}
	v, err := s.keys.Seal(*p, binding(id, ident, col))
	return &v, err
}

// Binder returns what the secret in col of the result for row id is sealed
// bound to; ident is the identity the result carries (nil if none).
type Binder func(id uuid.UUID, ident *Identity, col string) keyring.Binding

// RowBinding binds a result's secrets to their row and column only. The
// spool seals with it: its files keep each result's identity beside the
// sealed values, and the store binds them to it when they are replayed.
func RowBinding(id uuid.UUID, _ *Identity, col string) keyring.Binding {
	return keyring.AAD(id.String(), col)
}

// secrets calls f with the column and address of each secret x holds.
func (x *Success) secrets(f func(col string, v *string) error) error {
	if err := f("access_token", &x.AccessToken); err != nil {
		return err
	}
	return f("refresh_token", &x.RefreshToken)
}

// secrets calls f with the column and address of each secret x holds: a
// failure's refresh token is one salvaged from an unusable answer, if any.
func (x *Failure) secrets(f func(col string, v *string) error) error {
	return f("refresh_token", &x.RefreshToken)
}

// SealResults returns copies of successes and failures with every secret
// sealed with keys, bound by bind. The originals are left as they are, for
// the caller to retry or spool. The table (StoreSuccesses, StoreFailures)
// and the spool both seal results with it, each with its own binding.
func SealResults(keys *keyring.Keyring, bind Binder, successes []Success, failures []Failure) ([]Success, []Failure, error) {
	successes, failures = slices.Clone(successes), slices.Clone(failures)
	err := eachSecret(successes, failures, func(id uuid.UUID, ident *Identity, col, v string) (string, error) {
		return keys.Seal(v, bind(id, ident, col))
	})
	if err != nil {
		return nil, nil, err
	}
	return successes, failures, nil
}

// OpenResults opens in place the secrets SealResults sealed with bind.
func OpenResults(keys *keyring.Keyring, bind Binder, successes []Success, failures []Failure) error {
	return eachSecret(successes, failures, func(id uuid.UUID, ident *Identity, col, v string) (string, error) {
		return keys.Open(v, bind(id, ident, col))
	})
}

// eachSecret replaces each secret of the results that is not empty (a
// failure salvaged none, say) with what f returns for it, until f fails.
func eachSecret(successes []Success, failures []Failure, f func(id uuid.UUID, ident *Identity, col, v string) (string, error)) error {
	of := func(id uuid.UUID, ident *Identity) func(string, *string) error {
		return func(col string, v *string) error {
			if *v == "" {
				return nil
			}
			out, err := f(id, ident, col, *v)
			if err != nil {
				return err
			}
			*v = out
			return nil
		}
	}
	for i := range successes {
		if err := successes[i].secrets(of(successes[i].ID, successes[i].Identity)); err != nil {
			return err
		}
	}
	for i := range failures {
		if err := failures[i].secrets(of(failures[i].ID, failures[i].Identity)); err != nil {
			return err
		}
	}
	return nil
}

// sealSuccesses returns a copy of batch with each access token's hash set
// and its tokens sealed, bound to the row's identity when it was claimed.
func (s *Store) sealSuccesses(ctx context.Context, batch []Success) ([]Success, error) {
	out := slices.Clone(batch)
	if s.keys.Enabled() {
		bind, err := s.claimBinder(ctx, withoutIdentity(batch, func(b Success) (uuid.UUID, bool) { return b.ID, b.Identity == nil }))
		if err != nil {
			return nil, err
		}
		if out, _, err = SealResults(s.keys, bind, batch, nil); err != nil {
			return nil, err
		}
	}
	for i := range out {
		sum := sha256.Sum256([]byte(batch[i].AccessToken))
		out[i].AccessTokenSHA256 = hex.EncodeToString(sum[:])
		out[i].Identity = nil // the statement does not read it
	}
	return out, nil
}

// sealFailures returns a copy of batch with each salvaged refresh token
// sealed, bound to the row's identity when it was claimed; a batch
// without one is returned as it is.
func (s *Store) sealFailures(ctx context.Context, batch []Failure) ([]Failure, error) {
	if !s.keys.Enabled() || !slices.ContainsFunc(batch, func(f Failure) bool { return f.RefreshToken != "" }) {
		return batch, nil
	}
	if err := s.recordKey(ctx); err != nil {
		return nil, err
	}
	bind, err := s.claimBinder(ctx, withoutIdentity(batch, func(f Failure) (uuid.UUID, bool) {
		return f.ID, f.RefreshToken != "" && f.Identity == nil
	}))
	if err != nil {
		return nil, err
	}
	_, out, err := SealResults(s.keys, bind, nil, batch)
	return out, err
}

// withoutIdentity lists the rows of results that carry no identity and
// have something to seal (spooled by an earlier release).
func withoutIdentity[T any](results []T, missing func(T) (uuid.UUID, bool)) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range results {
		if id, ok := missing(r); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// claimBinder returns the binding of the table for results: each secret
// bound to its row's identity as claimIdentities resolves it.
func (s *Store) claimBinder(ctx context.Context, missing []uuid.UUID) (Binder, error) {
	idents, err := s.claimIdentities(ctx, missing)
	if err != nil {
		return nil, err
	}
	return func(id uuid.UUID, carried *Identity, col string) keyring.Binding {
		return binding(id, idents(id, carried), col)
	}, nil
}

// claimIdentities returns the identity to seal a refreshed row's tokens
// for: the one the result carries, which is the row's when it was claimed,
// so that a change made with SQL while the refresh was in flight cannot
// have the new refresh token sealed for it (import refuses such a change,
// see Import). A result that carries none (spooled by an earlier release)
// gets the row's identity now; missing lists those rows, read in one
// statement.
func (s *Store) claimIdentities(ctx context.Context, missing []uuid.UUID) (func(uuid.UUID, *Identity) *Identity, error) {
	now := map[uuid.UUID]*Identity{}
	if len(missing) > 0 {
		var rows []model.OAuthToken
		err := s.db.WithContext(ctx).Raw(identitiesSQL, map[string]any{"ids": pgUUIDArray(missing)}).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("read the identities of %d connections: %w", len(missing), err)
		}
		for i := range rows {
			now[rows[i].ID] = IdentityOf(&rows[i])
		}
	}
	return func(id uuid.UUID, carried *Identity) *Identity {
		if carried != nil {
			return carried
		}
		if ident, ok := now[id]; ok {
			return ident
		}
		// The row is gone: the store statement writes nothing for it.
		return &Identity{}
	}, nil
}

// SealedKeyIDs returns the ids of the keys the table's sealed values may
// name, from oauth_token_keys: its cost does not grow with the table.
func (s *Store) SealedKeyIDs(ctx context.Context) ([]string, error) {
	keys, err := s.recordedKeys(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids, nil
}

// recordedKey is a row of oauth_token_keys.
type recordedKey struct {
	ID    string  `gorm:"column:key_id"`
	Check *string `gorm:"column:check_value"`
}

func (s *Store) recordedKeys(ctx context.Context) ([]recordedKey, error) {
	var keys []recordedKey
	if err := s.db.WithContext(ctx).Raw(sealedKeyIDsSQL).Scan(&keys).Error; err != nil {
		return nil, fmt.Errorf("find encryption keys in use: %w", err)
	}
	return keys, nil
}

// CheckKeys checks the keyring against the table before a worker starts:
// every key the table records must be in the keyring, since values sealed
// with it may be in the table, and then as checkKeys.
func (s *Store) CheckKeys(ctx context.Context) error {
	keys, err := s.recordedKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		switch {
		case !s.keys.Enabled():
			return fmt.Errorf("the table holds tokens encrypted with key %q but TOKENS_ENCRYPTION_KEYS is not set", k.ID)
		case !s.keys.Has(k.ID):
			return fmt.Errorf("the table holds tokens encrypted with key %q, which is not in TOKENS_ENCRYPTION_KEYS", k.ID)
		}
	}
	return s.checkKeys(ctx)
}

// checkKeys refuses a keyring that has a key id the table knows with other
// bytes (a typo, another environment's key): sealing with it would write
// values no other worker opens, and opening with it would fail every row,
// which the worker would take for rows changed behind its back. It
// compares each key's check value with the one recorded, and writes
// nothing but the check value of a key that has none yet and proves right
// (trustOnFirstUse). It runs once per Store, before anything is read with
// secrets opened, claimed, imported, stored or rekeyed; a key the table
// does not record is new and passes.
func (s *Store) checkKeys(ctx context.Context) error {
	if !s.keys.Enabled() || s.keysChecked == nil || s.keysChecked.Load() {
		return nil
	}
	keys, err := s.recordedKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.checkKey(ctx, k); err != nil {
			return err
		}
	}
	s.keysChecked.Store(true)
	return nil
}

// recordKey checks the keys, then records the primary key with its check
// value before this process first seals with it, so that start-up can
// check the configured keys without reading every row.
func (s *Store) recordKey(ctx context.Context) error {
	if err := s.checkKeys(ctx); err != nil {
		return err
	}
	if !s.keys.Enabled() || s.recorded == nil || s.recorded.Load() {
		return nil
	}
	if err := s.recordPrimary(ctx); err != nil {
		return err
	}
	s.recorded.Store(true)
	return nil
}

// checkKey checks one recorded key against the keyring's key of that id.
func (s *Store) checkKey(ctx context.Context, k recordedKey) error {
	want, ok := s.keys.CheckValue(k.ID)
	switch {
	case !ok:
		return nil // not ours: CheckKeys decides whether it is needed
	case k.Check == nil:
		return s.trustOnFirstUse(ctx, k.ID, want)
	case *k.Check != want:
		return wrongBytes(k.ID)
	}
	return nil
}

func wrongBytes(id string) error {
	return fmt.Errorf("encryption key %q has different bytes from the key recorded under that id (its check value differs): fix TOKENS_ENCRYPTION_KEYS", id)
}

// recordPrimary records the primary key with its check value. Another
// process may have recorded the id since checkKeys (a new key rolled out
// to several workers, or a worker of an earlier release, which records no
// check value): its insert then does nothing, and the recorded key is
// checked again.
func (s *Store) recordPrimary(ctx context.Context) error {
	id := s.keys.Primary()
	check, _ := s.keys.CheckValue(id)
	if err := s.db.WithContext(ctx).Exec(recordKeySQL, map[string]any{"key_id": id, "check_value": check}).Error; err != nil {
		return fmt.Errorf("record encryption key: %w", err)
	}
	keys, err := s.recordedKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			return s.checkKey(ctx, k)
		}
	}
	return nil
}

// trustOnFirstUse fills the check value of a key recorded before check
// values existed. Nothing recorded says which bytes the id stood for, so
// the values sealed under it are the judge: the key is taken as right if
// it opens any of a few of them (a wrong key opens none; a value changed
// behind our back fails on its own, hence a few), and refused if it opens
// none. A key no value names has nothing to contradict it, and the first
// bytes to use it are recorded. From then on the check value decides.
func (s *Store) trustOnFirstUse(ctx context.Context, id, check string) error {
	var rows []model.OAuthToken
	if err := s.db.WithContext(ctx).Raw(sealedUnderSQL, map[string]any{"key_id": id}).Scan(&rows).Error; err != nil {
		return fmt.Errorf("check encryption key %q: %w", id, err)
	}
	tried := 0
	for i := range rows {
		r := &rows[i]
		for _, c := range [...]struct {
			col string
			v   *model.Secret
		}{{"refresh_token", r.RefreshToken}, {"client_secret", r.ClientSecret}, {"access_token", r.AccessToken}} {
			if c.v == nil || keyring.KeyID(string(*c.v)) != id {
				continue
			}
			tried++
			if _, err := s.keys.Open(string(*c.v), binding(r.ID, IdentityOf(r), c.col)); err == nil {
				return s.fillCheck(ctx, id, check)
			}
		}
	}
	if tried > 0 {
		return fmt.Errorf("encryption key %q has different bytes from the key the table's values under that id were sealed with (it opens none of %d tried): fix TOKENS_ENCRYPTION_KEYS", id, tried)
	}
	return s.fillCheck(ctx, id, check)
}

// fillCheck records the check value of a key that has none; if another
// process filled it first, its value must agree.
func (s *Store) fillCheck(ctx context.Context, id, check string) error {
	res := s.db.WithContext(ctx).Exec(fillKeyCheckSQL, map[string]any{"key_id": id, "check_value": check})
	if res.Error != nil {
		return fmt.Errorf("record encryption key %q: %w", id, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	keys, err := s.recordedKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id && k.Check != nil && *k.Check != check {
			return wrongBytes(id)
		}
	}
	return nil
}

// pgTextArray spells a text[] literal, each element quoted.
func pgTextArray(v []string) string {
	quoted := make([]string, len(v))
	for i, s := range v {
		quoted[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return "{" + strings.Join(quoted, ",") + "}"
}

// pgUUIDArray spells ids as a text[] literal, for a statement that casts
// it to uuid[].
func pgUUIDArray(ids []uuid.UUID) string {
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = id.String()
	}
	return pgTextArray(list)
}
