// Package postgres keeps babelfeed's feeds and items in a PostgreSQL
// database that several pollers share: it implements store.Store with the
// same behaviour as the embedded bbolt store, plus store.Coordinator
// (leases on due feeds, per-host politeness across pollers) and
// store.Copier (the migrate command). It is the only package that imports
// pgx.
package postgres

import _ "github.com/jackc/pgx/v5/pgxpool"
