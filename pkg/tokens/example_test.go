package tokens_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

func ExampleClient_Get() {
	ctx := context.Background()
	c, err := tokens.Open(ctx, os.Getenv("DATABASE_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := c.Get(ctx, "xero-acme")
	switch {
	case errors.Is(err, tokens.ErrNeedsReauth):
		log.Fatal("someone must authorize xero-acme again: ", err)
	case err != nil:
		log.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.xero.com/connections", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		// The API refused the token before its expiry: have it refreshed
		// (once, however many callers report it) and fetch the new one.
		_ = c.Invalidate(ctx, "xero-acme", tok.AccessToken)
		tok, err = c.Get(ctx, "xero-acme")
	}
	fmt.Println(tok.Version, err)
}

func ExampleClient_TokenSource() {
	ctx := context.Background()
	c, err := tokens.Open(ctx, os.Getenv("DATABASE_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// An *http.Client that always sends the connection's current token.
	client := oauth2.NewClient(ctx, c.TokenSource("hubspot-acme"))
	resp, err := client.Get("https://api.hubapi.com/crm/v3/objects/contacts")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
}

func ExampleOpen_encryptedTokens() {
	ctx := context.Background()
	// The worker's keys, in its environment variable's format.
	keys, err := tokens.ParseKeys(os.Getenv("TOKENS_ENCRYPTION_KEYS"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := tokens.Open(ctx, os.Getenv("DATABASE_URL"), &tokens.Options{EncryptionKeys: keys})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleOpen_sharedPool() {
	ctx := context.Background()
	// The application's own pool, on the pgx driver (import
	// _ "github.com/jackc/pgx/v5/stdlib"), one connection larger for the
	// client's LISTEN connection.
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(11)
	c, err := tokens.Open(ctx, "", &tokens.Options{DB: db})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // db stays open

	// For a readiness probe.
	if err := c.Ready(ctx); err != nil {
		log.Print(err)
	}
}
