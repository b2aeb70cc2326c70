// Package model defines the row type of the oauth_tokens table, shared by the
// worker, the store and the consumer library.
package model

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Connection statuses. Only active connections are refreshed.
const (
	StatusActive      = "active"       // refreshed by the worker
	StatusNeedsReauth = "needs_reauth" // the provider refused the refresh token: a person must re-authorize
	StatusDisabled    = "disabled"     // switched off by an operator
)

// ValidStatus reports whether s is one of the connection statuses.
func ValidStatus(s string) bool {
	return s == StatusActive || s == StatusNeedsReauth || s == StatusDisabled
}

// Grants: how the worker obtains a connection's next access token.
const (
	GrantRefreshToken      = "refresh_token"      // with the refresh token (the default)
	GrantClientCredentials = "client_credentials" // with the client's own id and secret (RFC 6749 4.4)
	GrantJWTBearer         = "jwt_bearer"         // with an assertion signed by the connection's key (RFC 7523)
	GrantGitHubApp         = "github_app"         // with a GitHub App's JWT, for an installation token
)

// Secret is a credential read from or written to the table. Its String,
// GoString, LogValue and MarshalJSON methods all redact, so that printing,
// logging or encoding a row cannot leak it; Reveal is the one way out.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret's value. Call it only where the value is sent to
// its destination (a provider, a consumer).
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret in %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// OAuthToken is one connection: a row of oauth_tokens.
type OAuthToken struct {
	ID       uuid.UUID `gorm:"column:id;type:uuid;primaryKey" json:"id"`
	Name     string    `gorm:"column:name" json:"name"`
	Provider string    `gorm:"column:provider" json:"provider"`
	TokenURL *string   `gorm:"column:token_url" json:"token_url,omitempty"`
	// AuthorizeURL is a generic connection's own authorization endpoint,
	// for reconnecting it in a browser; nil: the template's.
	AuthorizeURL *string `gorm:"column:authorize_url" json:"authorize_url,omitempty"`
	ClientID     *string `gorm:"column:client_id" json:"client_id,omitempty"`
	ClientSecret *Secret `gorm:"column:client_secret" json:"-"`
	Scopes       *string `gorm:"column:scopes" json:"scopes,omitempty"`
	AuthStyle    *string `gorm:"column:auth_style" json:"auth_style,omitempty"`
	// Grant is how the next access token is obtained (GrantRefreshToken,
	// GrantClientCredentials, ...); the database's default is refresh_token.
	Grant               string          `gorm:"column:grant;default:refresh_token" json:"grant,omitempty"`
	AccessToken         *Secret         `gorm:"column:access_token" json:"-"`
	RefreshToken        *Secret         `gorm:"column:refresh_token" json:"-"`
	HasRefreshToken     bool            `gorm:"column:has_refresh_token;->" json:"has_refresh_token"`
	AccessTokenExpires  *time.Time      `gorm:"column:access_token_expires" json:"access_token_expires"`
	RefreshTokenExpires *time.Time      `gorm:"column:refresh_token_expires" json:"refresh_token_expires,omitempty"`
	Updating            bool            `gorm:"column:updating" json:"updating"`
	UpdatingUntil       *time.Time      `gorm:"column:updating_until" json:"updating_until,omitempty"`
	ClaimID             *uuid.UUID      `gorm:"column:claim_id;type:uuid" json:"-"`
	Status              string          `gorm:"column:status" json:"status"`
	FailureCount        int             `gorm:"column:failure_count" json:"failure_count"`
	NextAttemptAt       *time.Time      `gorm:"column:next_attempt_at" json:"next_attempt_at,omitempty"`
	LastError           *string         `gorm:"column:last_error" json:"last_error,omitempty"`
	LastRefreshedAt     *time.Time      `gorm:"column:last_refreshed_at" json:"last_refreshed_at,omitempty"`
	Version             int64           `gorm:"column:version" json:"version"`
	JSONData            json.RawMessage `gorm:"column:json_data;type:jsonb" json:"json_data,omitempty"`
	Params              json.RawMessage `gorm:"column:params;type:jsonb" json:"params,omitempty"`
	CreatedAt           time.Time       `gorm:"column:created_at" json:"created_at"`
	UpdatedAt           time.Time       `gorm:"column:updated_at" json:"updated_at"`
}

// TableName tells gorm the table's name.
func (OAuthToken) TableName() string { return "oauth_tokens" }
