package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDSNGivesAnEmptySchemaOfItsOwn(t *testing.T) {
	dsn := DSN(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE TABLE x (id int)"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := conn.QueryRow(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if len(schema) < 3 || schema[:2] != "t_" {
		t.Fatalf("current schema %q, want the test's own t_…", schema)
	}
}
