// Package sql holds tokenwarden's database schema, embedded so that the
// worker binary can apply it (`worker migrate`) without the source tree.
//
// migrations/NNNNN_name.sql are the versioned migrations, applied in order
// and recorded by internal/store (with pressly/goose). They only ever go
// forward: a migration that has shipped is never edited, and a change to
// the schema is a new file. Each is written to be safe on a database that
// ran the idempotent schema.sql of the release before it (IF NOT EXISTS,
// CREATE OR REPLACE), since that is how databases were set up before
// migrations were versioned.
//
// schema.sql is the same schema read whole, as a fresh install ends up
// with it: the reference a reader wants. A test (store's
// TestMigrationsBuildSchemaSQL) fails when the two differ.
package sql

import "embed"

// Migrations holds migrations/*.sql.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Schema is sql/schema.sql: the full schema of a fresh install.
//
//go:embed schema.sql
var Schema string

// Roles is the idempotent DDL of sql/roles.sql: the least-privilege worker
// and consumer roles. It needs a role that may create roles.
//
//go:embed roles.sql
var Roles string
