// Package sql holds the database schema as an embedded file, so that the
// worker binary can apply it (`worker migrate`) without the source tree.
package sql

import _ "embed"

// Schema is the idempotent DDL of sql/schema.sql.
//
//go:embed schema.sql
var Schema string
