package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tokenwarden/tokenwarden/pkg/webhook"
)

// A receiver checks the signature over the raw body before it trusts, or
// even decodes, the event.
func Example_receiver() {
	secret := []byte("the value of TOKENS_WEBHOOK_SECRET")
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil || !webhook.Verify(secret, body, r.Header.Get(webhook.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		if ev.Event == webhook.NeedsReauth {
			fmt.Printf("%s (%s) needs re-authorization: %s\n", ev.Name, ev.Provider, ev.LastError)
		}
	})

	// What a worker posts.
	body := `{"event":"needs_reauth","name":"xero-acme","provider":"xero","failures":1,` +
		`"last_error":"invalid_grant: token revoked","time":"2026-01-02T15:04:05Z"}`
	for _, sig := range []string{webhook.Sign(secret, []byte(body)), webhook.Sign([]byte("a guess"), []byte(body))} {
		req := httptest.NewRequest(http.MethodPost, "/tokenwarden", strings.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// xero-acme (xero) needs re-authorization: invalid_grant: token revoked
	// 200
	// 401
}
