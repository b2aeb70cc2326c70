package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// keysData is the API keys page's content.
type keysData struct {
	Keys []store.APIKey
	// Secret is a key just created, shown this once; SecretLabel its label.
	Secret, SecretLabel string
	// Form and Patterns refill the form after an error.
	Form         NewAPIKey
	Patterns     string
	Flash, Error string
}

func (c *console) keys(w http.ResponseWriter, r *http.Request) {
	c.showKeys(w, r, http.StatusOK, keysData{Flash: flashOf(r.URL.Query().Get("done"))})
}

func (c *console) showKeys(w http.ResponseWriter, r *http.Request, status int, d keysData) {
	keys, err := c.Backend.ListAPIKeys(r.Context())
	if err != nil {
		c.serverError(w, r, "list the API keys", err)
		return
	}
	d.Keys = keys
	c.render(w, r, status, "keys", d)
}

// createKey creates a key and shows its secret on the answer, once; the
// answer is not a redirect, so the secret is never in a URL.
func (c *console) createKey(w http.ResponseWriter, r *http.Request) {
	patterns := r.PostFormValue("patterns")
	k := NewAPIKey{Label: strings.TrimSpace(r.PostFormValue("label")), Admin: r.PostFormValue("kind") == "admin"}
	fail := func(msg string) {
		c.showKeys(w, r, http.StatusBadRequest, keysData{Form: k, Patterns: patterns, Error: msg})
	}
	if k.Label == "" {
		fail("Give the key a label, so that you can tell it apart later.")
		return
	}
	if !k.Admin {
		// Spaces separate patterns here as commas do; then the CLI's
		// parser splits them and refuses a glob that is not one.
		list := strings.Join(strings.Fields(strings.ReplaceAll(patterns, ",", " ")), ",")
		if list == "" {
			fail("A token-API key needs at least one pattern of connection names, e.g. xero-*.")
			return
		}
		var err error
		if k.Patterns, err = apikey.ParsePatterns(list); err != nil {
			fail("Key not created: " + fullStop(err.Error()))
			return
		}
	}
	secret, err := c.Backend.CreateAPIKey(r.Context(), k)
	if err != nil {
		fail("Key not created: " + fullStop(err.Error()))
		return
	}
	c.audit(r, "api key created", "key", keyID(secret), "label", k.Label, "admin", k.Admin)
	c.showKeys(w, r, http.StatusOK, keysData{Secret: secret, SecretLabel: k.Label})
}

func (c *console) revokeKey(w http.ResponseWriter, r *http.Request) {
	err := c.Backend.RevokeAPIKey(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "No such key", "There is no API key with that id.")
		return
	}
	if err != nil {
		c.serverError(w, r, "revoke the key", err)
		return
	}
	c.audit(r, "api key revoked", "key", r.PathValue("id"))
	http.Redirect(w, r, c.url("/console/keys?done=revoked"), http.StatusSeeOther)
}
