// Package provider knows how to refresh a token at each provider: a
// catalogue of templates (token URL, client authentication, default
// lifetime, which response fields to keep) and the exchange itself, done
// with golang.org/x/oauth2.
//
// Every failure comes back as an *Error that says whether retrying can help
// (Reauth false) or a person must re-authorize the connection (Reauth true),
// and carries the provider's answer without any secret of the request.
package provider
