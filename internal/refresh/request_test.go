package refresh_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// The provider is sent what the row holds, NULL columns as empty values
// (the template's then), and params read as text.
func TestRequestOfReadsTheRow(t *testing.T) {
	t.Parallel()
	row := &model.OAuthToken{Name: "a", Provider: "microsoft", TokenURL: ptr("https://login.example.com/{tenant}/token"),
		AuthStyle: ptr("post"), ClientID: ptr("cid"), ClientSecret: ptr(model.Secret("cs-SECRET")),
		RefreshToken: ptr(model.Secret("rt-SECRET")), Scopes: ptr("offline_access mail.read"),
		AccessToken: ptr(model.Secret("at-SECRET")), Params: []byte(`{"tenant":"t1","lifetime":"2h","n":3}`)}
	got, err := refresh.RequestOf(row)
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Request{Provider: "microsoft", TokenURL: "https://login.example.com/{tenant}/token", AuthStyle: "post",
		ClientID: "cid", ClientSecret: "cs-SECRET", RefreshToken: "rt-SECRET", Scopes: "offline_access mail.read",
		Params: map[string]string{"tenant": "t1", "lifetime": "2h", "n": "3"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RequestOf = %#v\nwant %#v", got, want)
	}

	got, err = refresh.RequestOf(&model.OAuthToken{Provider: "xero"})
	if err != nil || !reflect.DeepEqual(got, provider.Request{Provider: "xero"}) {
		t.Fatalf("a row of NULLs: %#v, %v", got, err)
	}
}

// A params column that is not a JSON object is the connection's
// configuration at fault: out of rotation, and said so, before anything is
// sent.
func TestRequestOfRefusesParamsThatAreNotAnObject(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`[1]`, `"x"`, `{`} {
		_, err := refresh.RequestOf(&model.OAuthToken{Provider: "oauth2", RefreshToken: ptr(model.Secret("rt-SECRET")), Params: []byte(raw)})
		var pe *provider.Error
		if !errors.As(err, &pe) || !pe.Reauth || !pe.Config || !strings.HasPrefix(err.Error(), "configuration error: ") {
			t.Errorf("params %s: %v; want a configuration error", raw, err)
		}
	}
}
