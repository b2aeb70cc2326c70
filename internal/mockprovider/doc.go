// Package mockprovider is a minimal OAuth2 token endpoint (RFC 6749 section 6,
// refresh_token grant) so that tokenwarden can be developed, demonstrated and
// tested without a real provider account.
//
// It deliberately accepts any refresh token it has never seen: tests and demos
// seed the database with arbitrary tokens (for example "rt-xero-1") and the
// server adopts them, starting a new token family. With rotation enabled it
// behaves like strict real-world providers: a used refresh token is rejected
// and presenting it again revokes the whole family, which is the failure mode
// a refresher must never trigger by itself.
//
// Tests normally mount a Server with net/http/httptest; cmd/mockprovider
// serves one on a TCP address.
package mockprovider
