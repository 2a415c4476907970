package main

import (
	"encoding/json"
	"io"
)

// writeJSONRows prints rows as JSON lines ("jsonl") or as one indented JSON
// array ("json", [] when empty), without HTML escaping: the machine-readable
// formats every listing command offers.
func writeJSONRows[T any](w io.Writer, format string, rows []T) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if format == "jsonl" {
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if rows == nil {
		rows = []T{}
	}
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}
