// Package sql holds the database schema as an embedded file, so that the
// worker binary can apply it (`worker migrate`) without the source tree.
package sql

import _ "embed"

// Schema is the idempotent DDL of sql/schema.sql.
//
//go:embed schema.sql
var Schema string

// Roles is the idempotent DDL of sql/roles.sql: the least-privilege worker
// and consumer roles. It needs a role that may create roles.
//
//go:embed roles.sql
var Roles string
