package seedimport

import (
	"errors"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
)

// tokenPair is the two tokens of a saved token response: the Xero
// credentials file the NiFi flow (seed 001) reads with GetFile and rewrites
// with PutFile after each refresh, and the cdata table's connection_json.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// nifiXero reads the flow's credentials file. The client id and secret
// live in the flow's InvokeHTTP processor, not in the file, so they come
// from --credentials. The access token's expiry is not known (the file
// holds expires_in without the time it was written), so the connection is
// refreshed on the worker's next pass.
func (o *Options) nifiXero() ([]connfile.Record, error) {
	var f tokenPair
	if err := readJSON("--file (the Xero credentials JSON file)", o.File, &f); err != nil {
		return nil, err
	}
	if f.RefreshToken == "" {
		return nil, errors.New("the credentials file has no refresh_token")
	}
	var cc clientCredentials
	if err := readJSON("--credentials (a JSON file with client_id and client_secret)", o.Credentials, &cc); err != nil {
		return nil, err
	}
	if cc.ClientID == "" || cc.ClientSecret == "" {
		return nil, errors.New("the --credentials file needs client_id and client_secret")
	}
	name := o.Name
	if name == "" {
		name = "xero"
	}
	return []connfile.Record{{
		Name: name, Provider: ptr("xero"), ClientID: ptr(cc.ClientID), ClientSecret: ptr(cc.ClientSecret),
		AccessToken: ptr(f.AccessToken), RefreshToken: ptr(f.RefreshToken),
	}}, nil
}
