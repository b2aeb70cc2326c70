package console_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenwarden/tokenwarden/internal/browsertest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// auditLines returns the log's "console: <action>" lines.
func auditLines(log *testutil.Buffer) []string {
	var out []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "level=INFO") && strings.Contains(l, `msg="console: `) {
			out = append(out, l)
		}
	}
	return out
}

// TestAuditLog: every state-changing action in the console writes one
// Info line "console: <action>" naming the connection (or key) and who
// did it, the admin key or a reconnect link, and no secret.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	var log testutil.Buffer
	b := setupWith(t, options{log: &log})
	b.seed(conn{name: "xero-acme"}, conn{name: "hubspot-acme", status: model.StatusNeedsReauth})
	keys, err := b.backend.ListAPIKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	admin := "admin key " + keys[0].ID + " (ops)"

	ctx := b.signedInAt("/console/connections/xero-acme")
	b.submit(ctx, `form[action$="/refresh"] button`)
	b.submit(ctx, `form[action$="/disable"] button`)
	b.submit(ctx, `form[action$="/enable"] button`)
	b.open(ctx, "/console/connections/hubspot-acme")
	b.submit(ctx, `form[action$="/reconnect"] button`)
	b.waitPath(ctx, "/console/connections/hubspot-acme")
	b.submit(ctx, `form[action$="/link"] button`)
	link, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("link-url")))
	if err != nil {
		t.Fatal(err)
	}
	owner := browsertest.NewTab(t, ctx)
	b.open(owner, strings.TrimPrefix(link, b.base))
	b.submit(owner, `main form button`)
	b.waitPath(owner, "/oauth/callback")

	b.open(ctx, "/console/keys")
	b.set(ctx, "label", "billing app")
	b.set(ctx, "patterns", "xero-*")
	b.submit(ctx, `form[action="/console/keys"] button[type=submit]`)
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("new-key")))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = b.backend.ListAPIKeys(t.Context())
	i := slices.IndexFunc(keys, func(k store.APIKey) bool { return k.Label == "billing app" })
	if i < 0 {
		t.Fatal("the key was not created")
	}
	created := keys[i].ID
	b.submit(ctx, fmt.Sprintf(`form[action="/console/keys/%s/revoke"] button`, created))

	b.open(ctx, "/console/connections/xero-acme")
	b.do("type the name", chromedp.SendKeys(chromedp.ID("confirm"), "xero-acme"))
	b.submit(ctx, `form[action$="/delete"] button`)
	b.open(ctx, "/console/connect")
	b.set(ctx, "name", "new-conn")
	b.set(ctx, "provider", "oauth2")
	b.set(ctx, "client_id", "client-1")
	b.do("type the secret", chromedp.SendKeys(chromedp.ID("client_secret"), clientSecret))
	b.set(ctx, "authorize_url-oauth2", b.mockURL+"/authorize")
	b.set(ctx, "token_url-oauth2", b.mockURL+"/token")
	b.submit(ctx, `#connect-form button[type=submit]`)
	b.waitPath(ctx, "/console/connections/new-conn")
	b.submit(ctx, `.signout button`)

	// The action, then what it names, in the order they were done.
	want := [][]string{
		{`"console: sign-in"`, `by="` + admin + `"`},
		{`"console: refresh"`, "connection=xero-acme", `by="` + admin + `"`},
		{`"console: disable"`, "connection=xero-acme", `by="` + admin + `"`},
		{`"console: enable"`, "connection=xero-acme", `by="` + admin + `"`},
		{`"console: reconnect start"`, "connection=hubspot-acme", `by="` + admin + `"`},
		{`"console: authorization completed"`, "connection=hubspot-acme", `by="` + admin + `"`},
		{`"console: link created"`, "connection=hubspot-acme", `by="` + admin + `"`},
		{`"console: reconnect start"`, "connection=hubspot-acme", `by="reconnect link`},
		{`"console: authorization completed"`, "connection=hubspot-acme", `by="reconnect link`},
		{`"console: api key created"`, "key=" + created, `label="billing app"`, `by="` + admin + `"`},
		{`"console: api key revoked"`, "key=" + created, `by="` + admin + `"`},
		{`"console: delete"`, "connection=xero-acme", `by="` + admin + `"`},
		{`"console: connect start"`, "connection=new-conn", `by="` + admin + `"`},
		{`"console: authorization completed"`, "connection=new-conn", `by="` + admin + `"`},
		{`"console: sign-out"`, `by="` + admin + `"`},
	}
	got := auditLines(&log)
	if len(got) != len(want) {
		t.Errorf("%d audit lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if i >= len(got) {
			break
		}
		for _, part := range w {
			if !strings.Contains(got[i], part) {
				t.Errorf("audit line %d lacks %s:\n%s", i+1, part, got[i])
			}
		}
	}
	// The link is named by its id, never its secret: the line that made it
	// and the line of the reconnect it started name the same one.
	if len(got) == len(want) {
		_, id, _ := strings.Cut(got[6], "link=")
		id, _, _ = strings.Cut(id, " ")
		if len(id) != 36 || !strings.Contains(got[7], `by="reconnect link `+id+`"`) {
			t.Errorf("the link's lines do not name it by one id %q:\n%s\n%s", id, got[6], got[7])
		}
	}
	// A key is tw_<id>_<secret>: its id is what the log names it by. The
	// secret is base64url, so it may hold "_" itself: it is all that
	// follows the id.
	keySecret := func(k string) string {
		_, s, _ := strings.Cut(strings.TrimPrefix(k, "tw_"), "_")
		return s
	}
	forms := testutil.SecretForms("client-1", clientSecret, keySecret(b.adminKey), keySecret(secret), strings.TrimPrefix(link, b.base+"/connect/"))
	if leak := testutil.Leaked(log.String(), forms); leak != "" {
		t.Errorf("the log shows a secret (%q)", leak)
	}
}
