package provider

import (
	"strings"
	"testing"
)

func TestTemplateAPIFieldsAreChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json, contains string
	}{
		{"scheme with a space", `"api_auth_scheme": "Zoho oauthtoken"`, "api_auth_scheme"},
		{"scheme with CR LF", `"api_auth_scheme": "Bearer\r\nX-Evil: 1"`, "api_auth_scheme"},
		{"header name with a colon", `"api_headers": {"x-a:b": "v"}`, "not a header name"},
		{"header value with LF", `"api_headers": {"x-tenant": "a\nX-Evil: 1"}`, "control characters"},
		{"Authorization", `"api_headers": {"authorization": "Basic x"}`, "set by the proxy"},
		{"Host", `"api_headers": {"Host": "evil.example"}`, "set by the proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadCatalogue(writeCatalogueFile(t, `[{"name": "acme", "auth": "post", "default_lifetime": "1h", `+tc.json+`}]`))
			if err == nil {
				t.Fatalf("loaded %v, want an error", c.Names())
			}
			if !strings.Contains(err.Error(), "acme") || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not name acme and %q", err, tc.contains)
			}
		})
	}
	c, err := LoadCatalogue(writeCatalogueFile(t, `[{"name": "zoho_like", "auth": "post", "default_lifetime": "1h",
		"api_auth_scheme": "Zoho-oauthtoken", "api_headers": {"X-Org": "{org}"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl, _ := c.Lookup("zoho_like"); tmpl.APIAuthScheme != "Zoho-oauthtoken" || tmpl.APIHeaders["X-Org"] != "{org}" {
		t.Errorf("loaded %+v", tmpl)
	}
}

func TestFillAPIHeaders(t *testing.T) {
	t.Parallel()
	xero, _ := NewCatalogue().Lookup("xero")
	h, err := xero.FillAPIHeaders(Placeholders(nil, map[string]string{"tenant_id": "t-1"}))
	if err != nil || h.Get("Xero-Tenant-Id") != "t-1" || len(h) != 1 {
		t.Errorf("with tenant_id: %v, %v", h, err)
	}
	// Without the parameter the header is left out, not sent empty.
	if h, err := xero.FillAPIHeaders(Placeholders(nil, nil)); err != nil || len(h) != 0 {
		t.Errorf("without tenant_id: %v, %v", h, err)
	}
	// A parameter may not add a header of its own.
	for _, bad := range []string{"t\r\nX-Evil: 1", "t\nX-Evil: 1", "t\x00"} {
		if h, err := xero.FillAPIHeaders(map[string]string{"tenant_id": bad}); err == nil {
			t.Errorf("tenant_id %q gave %v, want an error", bad, h)
		}
	}
}
