package seedimport

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
)

// tokenConfig is the Webex token manager's token-config.json (seed 004).
type tokenConfig struct {
	ServiceApp struct {
		AppID        string `json:"appId"`
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		TargetOrgID  string `json:"targetOrgId"`
	} `json:"serviceApp"`
	TokenManager struct {
		PersonalAccessToken string `json:"personalAccessToken"`
		Integration         *struct {
			ClientID     string `json:"clientId"`
			ClientSecret string `json:"clientSecret"`
			RefreshToken string `json:"refreshToken"`
		} `json:"integration"`
	} `json:"tokenManager"`
}

// webex reads token-config.json and its .env. The service app lands as
// one webex_service_app connection whose token_manager parameter names a
// second connection, the token manager: the seed's fallback chain
// (service app refresh token, then a new app token with the manager's
// access token, then the manager's own refresh through its integration)
// is what the webex_service_app exchange does with that pair.
func (o *Options) webex() ([]connfile.Record, error) {
	var cfg tokenConfig
	if err := readJSON("--file (token-config.json)", o.File, &cfg); err != nil {
		return nil, err
	}
	app := cfg.ServiceApp
	if app.AppID == "" || app.ClientID == "" || app.ClientSecret == "" || app.TargetOrgID == "" {
		return nil, errors.New("token-config.json needs serviceApp.appId, clientId, clientSecret and targetOrgId")
	}
	envFile := o.EnvFile
	if envFile == "" {
		envFile = filepath.Join(filepath.Dir(o.File), ".env")
	}
	env, err := readDotEnv(envFile)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "webex-service-app"
	}
	manager := name + "-token-manager"
	tm := cfg.TokenManager
	mrec := connfile.Record{Name: manager, Provider: ptr("webex"), AccessToken: ptr(tm.PersonalAccessToken)}
	if in := tm.Integration; in != nil && in.RefreshToken != "" {
		mrec.ClientID, mrec.ClientSecret, mrec.RefreshToken = ptr(in.ClientID), ptr(in.ClientSecret), ptr(in.RefreshToken)
	}
	if mrec.AccessToken == nil && mrec.RefreshToken == nil {
		return nil, errors.New("token-config.json needs tokenManager.personalAccessToken or tokenManager.integration.refreshToken")
	}
	srec := connfile.Record{
		Name: name, Provider: ptr("webex_service_app"), ClientID: ptr(app.ClientID), ClientSecret: ptr(app.ClientSecret),
		AccessToken: ptr(env["WEBEX_SERVICE_APP_ACCESS_TOKEN"]), RefreshToken: ptr(env["WEBEX_SERVICE_APP_REFRESH_TOKEN"]),
		Params: map[string]any{"app_id": app.AppID, "target_org_id": app.TargetOrgID, "token_manager": manager},
	}
	if srec.AccessToken != nil && srec.RefreshToken == nil {
		// Without its refresh token the app's token must still be renewed
		// through the manager, not kept as one that never expires.
		srec.ExpiresIn = new(float64)
		srec.AccessToken = nil
	}
	return []connfile.Record{mrec, srec}, nil
}

// readDotEnv reads the KEY=VALUE lines of a .env file, as python-dotenv
// writes them: comments, blank lines, an optional export and quotes.
func readDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return env, nil
}
