package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/store"
)

// Rules, what they dropped, and saved queries: the same behaviour as the
// bbolt store's (store/rules.go, store/saved.go).
//
//	rules          one row per rule: the rule as JSON (counts left out, so
//	               that its times keep their nanoseconds) and its counts
//	rules_version  one row: a number bumped by every insert or delete of a
//	               rule, by a trigger, so that the rules a feed's removal
//	               deletes (ON DELETE CASCADE) bump it too
//	dropped        feed, item key -> the rule, rules version, time (Unix
//	               nanoseconds, as exact as bbolt's) and content hash
//	saved          name -> the saved query as JSON
//
// Drop records are found by the SHA-256 of the item key: keys are any
// text a feed puts in a GUID, of any length (a B-tree entry has a limit),
// and a bytea key holds bytes a text column refuses. Rules scoped to a
// feed and drop records go with their feed (foreign keys ON DELETE
// CASCADE), as RemoveFeed does in the bbolt store.
//
// Lock order, so that concurrent writers never deadlock: a feed row (the
// foreign keys take a KEY SHARE lock), then the rules_version row, then
// rule rows in ID order.
var rulesDDL = []string{
	`CREATE TABLE IF NOT EXISTS rules_version (
		id boolean PRIMARY KEY DEFAULT true CHECK (id),
		version bigint NOT NULL
	)`,
	`INSERT INTO rules_version (id, version) VALUES (true, 0) ON CONFLICT (id) DO NOTHING`,
	`CREATE SEQUENCE IF NOT EXISTS rules_id_seq`,
	`CREATE TABLE IF NOT EXISTS rules (
		id bigint PRIMARY KEY,
		feed_id bigint REFERENCES feeds (id) ON DELETE CASCADE,
		data jsonb NOT NULL,
		dropped bigint NOT NULL DEFAULT 0,
		kept bigint NOT NULL DEFAULT 0,
		timeouts bigint NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS rules_feed_id ON rules (feed_id) WHERE feed_id IS NOT NULL`,
	// The function finds rules_version in the schema it was created in,
	// whatever the search_path of the session that deletes a rule (say,
	// psql with schema-qualified names).
	`CREATE OR REPLACE FUNCTION babelfeed_bump_rules_version() RETURNS trigger
	LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
	BEGIN
		UPDATE rules_version SET version = version + 1;
		RETURN NULL;
	END
	$$`,
	`DO $$
	BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_trigger
				WHERE tgname = 'rules_bump_version' AND tgrelid = 'rules'::regclass) THEN
			CREATE TRIGGER rules_bump_version AFTER INSERT OR DELETE ON rules
				FOR EACH ROW EXECUTE FUNCTION babelfeed_bump_rules_version();
		END IF;
	END
	$$`,
	`CREATE TABLE IF NOT EXISTS dropped (
		feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
		key_hash bytea NOT NULL,
		key bytea NOT NULL,
		rule_id bigint NOT NULL,
		version bigint NOT NULL,
		at bigint NOT NULL,
		content_hash text NOT NULL,
		PRIMARY KEY (feed_id, key_hash)
	)`,
	`CREATE TABLE IF NOT EXISTS saved (
		name text PRIMARY KEY,
		data jsonb NOT NULL
	)`,
}

// dropKeyHash is the identity of an item key in the dropped table.
func dropKeyHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// ruleFeedColumn is a rule's feed_id column: NULL for a rule of every feed or of
// a category.
func ruleFeedColumn(id uint64) *int64 {
	if id == 0 {
		return nil
	}
	v := int64(id)
	return &v
}

// ruleJSON encodes a rule without its counts, which live in their own
// columns.
func ruleJSON(r babelfeed.Rule) ([]byte, error) {
	r.Dropped, r.Kept, r.Timeouts = 0, 0, 0
	return json.Marshal(&r)
}

// Rules returns every rule ordered by ID, with its counts, and the rules
// version: a number that changes whenever a rule is added or removed.
func (s *DB) Rules() ([]babelfeed.Rule, uint64, error) {
	ctx, cancel := opContext()
	defer cancel()
	// One statement, so the version and the rules are of one snapshot.
	rows, err := s.pool.Query(ctx, `SELECT v.version, r.id, r.data, r.dropped, r.kept, r.timeouts
		FROM rules_version v LEFT JOIN rules r ON true ORDER BY r.id`)
	if err != nil {
		return nil, 0, fmt.Errorf("list rules: %w", err)
	}
	rules, version, err := scanRules(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list rules: %w", err)
	}
	return rules, version, nil
}

// scanRules reads rows of (version, id, data, dropped, kept, timeouts),
// where a row of NULLs after the version stands for no rule.
func scanRules(rows pgx.Rows) ([]babelfeed.Rule, uint64, error) {
	defer rows.Close()
	var rules []babelfeed.Rule
	var version int64
	for rows.Next() {
		var id, dropped, kept, timeouts *int64
		var data []byte
		if err := rows.Scan(&version, &id, &data, &dropped, &kept, &timeouts); err != nil {
			return nil, 0, err
		}
		if id == nil {
			continue
		}
		var r babelfeed.Rule
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, 0, fmt.Errorf("rule %d: %w", *id, err)
		}
		r.ID = uint64(*id)
		r.Dropped, r.Kept, r.Timeouts = int(*dropped), int(*kept), int(*timeouts)
		rules = append(rules, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return rules, uint64(version), nil
}

// AddRule stores a rule and returns it with its ID. A rule that does the
// same as a stored one (same action, query and scope) is not added twice:
// the stored one comes back with added false. The query is stored as
// given; callers validate it (filter/rules.Compile).
func (s *DB) AddRule(r babelfeed.Rule) (stored babelfeed.Rule, added bool, err error) {
	if err := store.PrepareRule(&r); err != nil {
		return r, false, fmt.Errorf("add rule: %w", err)
	}
	ctx, cancel := opContext()
	defer cancel()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if r.FeedID != 0 {
			// KEY SHARE keeps the feed until commit, taken before the
			// version row (see the lock order above).
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM feeds WHERE id = $1 FOR KEY SHARE`, int64(r.FeedID)).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("feed %d: %w", r.FeedID, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		// Locking the version row makes the duplicate check and the
		// insert one step for every process. The rules are read by the
		// next statement, whose snapshot (read committed) comes after
		// the lock: it sees a rule another process just added.
		if _, err := tx.Exec(ctx, `SELECT version FROM rules_version FOR UPDATE`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT v.version, r.id, r.data, r.dropped, r.kept, r.timeouts
			FROM rules_version v LEFT JOIN rules r ON true ORDER BY r.id`)
		if err != nil {
			return err
		}
		rules, _, err := scanRules(rows)
		if err != nil {
			return err
		}
		for _, o := range rules {
			if o.SameAs(&r) {
				stored = o
				return nil
			}
		}
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval('rules_id_seq')`).Scan(&id); err != nil {
			return fmt.Errorf("assign rule ID: %w", err)
		}
		r.ID = uint64(id)
		if r.Added.IsZero() {
			r.Added = time.Now().UTC()
		}
		r.Dropped, r.Kept, r.Timeouts = 0, 0, 0
		data, err := ruleJSON(r)
		if err != nil {
			return err
		}
		// The trigger bumps the rules version.
		if _, err := tx.Exec(ctx, `INSERT INTO rules (id, feed_id, data) VALUES ($1, $2, $3)`,
			id, ruleFeedColumn(r.FeedID), data); err != nil {
			return err
		}
		stored, added = r, true
		return nil
	})
	if err != nil {
		return babelfeed.Rule{}, false, fmt.Errorf("add rule: %w", err)
	}
	return stored, added, nil
}

// RemoveRule deletes a rule and its counts. Items it dropped are looked at
// again the next time their feed brings them (the rules version changes).
func (s *DB) RemoveRule(id uint64) error {
	ctx, cancel := opContext()
	defer cancel()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT version FROM rules_version FOR UPDATE`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM rules WHERE id = $1`, int64(id))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("rule %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove rule: %w", err)
	}
	return nil
}

// Dropped returns item key -> drop record for a feed.
func (s *DB) Dropped(feedID uint64) (map[string]store.DroppedItem, error) {
	ctx, cancel := opContext()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT key, rule_id, version, at, content_hash FROM dropped WHERE feed_id = $1`, int64(feedID))
	if err != nil {
		return nil, fmt.Errorf("dropped items of feed %d: %w", feedID, err)
	}
	out := map[string]store.DroppedItem{}
	var key []byte
	var ruleID, version, at int64
	var hash string
	_, err = pgx.ForEachRow(rows, []any{&key, &ruleID, &version, &at, &hash}, func() error {
		out[string(key)] = store.DroppedItem{
			ContentHash: hash,
			RuleID:      uint64(ruleID),
			Version:     uint64(version),
			At:          time.Unix(0, at).UTC(),
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dropped items of feed %d: %w", feedID, err)
	}
	return out, nil
}

// SaveRuleOutcome records drops and counts in one transaction. A drop
// counts for its rule unless the item's previous record already named that
// rule (an item is counted once per rule, however often it is looked at
// again).
//
// The poller saves this before the items it kept (SaveFetch, with the
// feed's validators), so a failure between the two leaves drops remembered
// and the document fetched again: never validators without the decisions.
func (s *DB) SaveRuleOutcome(o store.RuleOutcome) error {
	if len(o.Drops) == 0 && len(o.Forget) == 0 && len(o.Kept) == 0 && len(o.Timeouts) == 0 && o.Present == nil {
		return nil
	}
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := opContext()
	defer cancel()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		dropped, err := saveDrops(ctx, tx, o, store.UnixNanos(at))
		if err != nil {
			return err
		}
		if len(o.Forget) > 0 {
			hashes := make([][]byte, len(o.Forget))
			for i, k := range o.Forget {
				hashes[i] = dropKeyHash(k)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM dropped WHERE feed_id = $1 AND key_hash = ANY($2)`,
				int64(o.FeedID), hashes); err != nil {
				return fmt.Errorf("forget drop records: %w", err)
			}
		}
		if err := addRuleCounts(ctx, tx, dropped, o.Kept, o.Timeouts); err != nil {
			return err
		}
		if o.Present != nil {
			present := make([][]byte, 0, len(o.Present))
			for k, in := range o.Present {
				if in {
					present = append(present, dropKeyHash(k))
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM dropped WHERE feed_id = $1 AND at < $2 AND key_hash <> ALL($3)`,
				int64(o.FeedID), store.UnixNanos(at.Add(-store.DropRetention)), present); err != nil {
				return fmt.Errorf("prune drop records: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save rule outcome of feed %d: %w", o.FeedID, err)
	}
	return nil
}

// saveDrops writes o's drop records and returns, per rule, the drops that
// count for it: those whose item's previous record named another rule or
// none.
func saveDrops(ctx context.Context, tx pgx.Tx, o store.RuleOutcome, at int64) (map[uint64]int, error) {
	dropped := map[uint64]int{}
	if len(o.Drops) == 0 {
		return dropped, nil
	}
	hashes := make([][]byte, len(o.Drops))
	for i, d := range o.Drops {
		hashes[i] = dropKeyHash(d.Key)
	}
	prev := map[string]uint64{} // key hash -> rule of the record
	rows, err := tx.Query(ctx, `SELECT key_hash, rule_id FROM dropped WHERE feed_id = $1 AND key_hash = ANY($2)`,
		int64(o.FeedID), hashes)
	if err != nil {
		return nil, fmt.Errorf("read drop records: %w", err)
	}
	var h []byte
	var rule int64
	if _, err := pgx.ForEachRow(rows, []any{&h, &rule}, func() error {
		prev[string(h)] = uint64(rule)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read drop records: %w", err)
	}
	// In order, as the bbolt store does: a key dropped twice in one
	// outcome sees its first record, and the last one stays.
	last := map[string]int{}
	for i, d := range o.Drops {
		k := string(hashes[i])
		if r, ok := prev[k]; !ok || r != d.RuleID {
			dropped[d.RuleID]++
		}
		prev[k] = d.RuleID
		last[k] = i
	}
	var keys, khash [][]byte
	var ruleIDs []int64
	var contentHashes []string
	for i, d := range o.Drops {
		if last[string(hashes[i])] != i {
			continue
		}
		keys = append(keys, []byte(d.Key))
		khash = append(khash, hashes[i])
		ruleIDs = append(ruleIDs, int64(d.RuleID))
		contentHashes = append(contentHashes, d.ContentHash)
	}
	// A feed removed meanwhile gets no records (the foreign key would
	// refuse them), as its removal would have deleted them.
	_, err = tx.Exec(ctx, `INSERT INTO dropped (feed_id, key_hash, key, rule_id, version, at, content_hash)
		SELECT $1, h, k, r, $2, $3, c FROM unnest($4::bytea[], $5::bytea[], $6::bigint[], $7::text[]) AS u(h, k, r, c)
		WHERE EXISTS (SELECT 1 FROM feeds WHERE id = $1)
		ON CONFLICT (feed_id, key_hash) DO UPDATE SET key = excluded.key, rule_id = excluded.rule_id,
			version = excluded.version, at = excluded.at, content_hash = excluded.content_hash`,
		int64(o.FeedID), int64(o.Version), at, khash, keys, ruleIDs, contentHashes)
	if err != nil {
		return nil, fmt.Errorf("record drops: %w", err)
	}
	return dropped, nil
}

// addRuleCounts adds to the counts of the rules, in rule ID order (see the
// lock order). Rules removed meanwhile are left out.
func addRuleCounts(ctx context.Context, tx pgx.Tx, dropped, kept, timeouts map[uint64]int) error {
	ids := map[uint64]bool{}
	for _, m := range []map[uint64]int{dropped, kept, timeouts} {
		for id, n := range m {
			if n != 0 {
				ids[id] = true
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sorted := make([]uint64, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	slices.Sort(sorted)
	b := &pgx.Batch{}
	for _, id := range sorted {
		b.Queue(`UPDATE rules SET dropped = dropped + $2, kept = kept + $3, timeouts = timeouts + $4 WHERE id = $1`,
			int64(id), dropped[id], kept[id], timeouts[id])
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("count rule decisions: %w", err)
	}
	return nil
}

// SaveQuery stores q under its name. An existing name is an error unless
// replace is set.
func (s *DB) SaveQuery(q store.SavedQuery, replace bool) error {
	if err := store.ValidSavedName(q.Name); err != nil {
		return fmt.Errorf("save query: %w", err)
	}
	if strings.TrimSpace(q.Query) == "" {
		return fmt.Errorf("save query %s: empty query", q.Name)
	}
	if q.Added.IsZero() {
		q.Added = time.Now().UTC()
	}
	data, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("save query %s: %w", q.Name, err)
	}
	ctx, cancel := opContext()
	defer cancel()
	sql := `INSERT INTO saved (name, data) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`
	if replace {
		sql = `INSERT INTO saved (name, data) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET data = excluded.data`
	}
	tag, err := s.pool.Exec(ctx, sql, q.Name, data)
	if err != nil {
		return fmt.Errorf("save query %s: %w", q.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("save query %s: a saved query named %s already exists", q.Name, q.Name)
	}
	return nil
}

// SavedQueries returns every saved query ordered by name (byte order, as
// the bbolt store).
func (s *DB) SavedQueries() ([]store.SavedQuery, error) {
	ctx, cancel := opContext()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name, data FROM saved ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list saved queries: %w", err)
	}
	var out []store.SavedQuery
	var name string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&name, &data}, func() error {
		var q store.SavedQuery
		if err := json.Unmarshal(data, &q); err != nil {
			return fmt.Errorf("saved query %s: %w", name, err)
		}
		out = append(out, q)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list saved queries: %w", err)
	}
	return out, nil
}

// SavedQuery returns one saved query; a missing one gives an error
// wrapping store.ErrNotFound.
func (s *DB) SavedQuery(name string) (store.SavedQuery, error) {
	ctx, cancel := opContext()
	defer cancel()
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM saved WHERE name = $1`, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("saved query %s: %w", name, store.ErrNotFound)
	}
	var q store.SavedQuery
	if err == nil {
		err = json.Unmarshal(data, &q)
	}
	if err != nil {
		return store.SavedQuery{}, fmt.Errorf("get saved query: %w", err)
	}
	return q, nil
}

// RemoveSavedQuery deletes a saved query.
func (s *DB) RemoveSavedQuery(name string) error {
	ctx, cancel := opContext()
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM saved WHERE name = $1`, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("saved query %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove saved query: %w", err)
	}
	return nil
}

// The parts of a whole-store copy (store.Copier) that concern rules, drop
// records and saved queries. Export and Import (copy.go) call them within
// their transactions.

// exportRuleRecords calls fn with every rule (each with the rules
// version), then every saved query, then every drop record: the part of
// Export's order between items and tombstones.
func exportRuleRecords(ctx context.Context, tx pgx.Tx, fn func(store.Record) error) error {
	rows, err := tx.Query(ctx, `SELECT v.version, r.id, r.data, r.dropped, r.kept, r.timeouts
		FROM rules_version v LEFT JOIN rules r ON true ORDER BY r.id`)
	if err != nil {
		return fmt.Errorf("export rules: %w", err)
	}
	rules, version, err := scanRules(rows)
	if err != nil {
		return fmt.Errorf("export rules: %w", err)
	}
	for i := range rules {
		if err := fn(store.Record{Rule: &rules[i], RulesVersion: version}); err != nil {
			return err
		}
	}

	rows, err = tx.Query(ctx, `SELECT data FROM saved ORDER BY name COLLATE "C"`)
	if err != nil {
		return fmt.Errorf("export saved queries: %w", err)
	}
	var saved []store.SavedQuery
	var data []byte
	if _, err := pgx.ForEachRow(rows, []any{&data}, func() error {
		var q store.SavedQuery
		if err := json.Unmarshal(data, &q); err != nil {
			return err
		}
		saved = append(saved, q)
		return nil
	}); err != nil {
		return fmt.Errorf("export saved queries: %w", err)
	}
	for i := range saved {
		if err := fn(store.Record{Saved: &saved[i]}); err != nil {
			return err
		}
	}

	// Drop records can be many: fn is called while reading them.
	rows, err = tx.Query(ctx, `SELECT feed_id, key, rule_id, version, at, content_hash FROM dropped ORDER BY feed_id, key`)
	if err != nil {
		return fmt.Errorf("export drop records: %w", err)
	}
	var feedID, ruleID, ver, at int64
	var key []byte
	var hash string
	if _, err := pgx.ForEachRow(rows, []any{&feedID, &key, &ruleID, &ver, &at, &hash}, func() error {
		return fn(store.Record{Dropped: &store.DroppedRecord{
			FeedID: uint64(feedID),
			Key:    string(key),
			DroppedItem: store.DroppedItem{
				ContentHash: hash, RuleID: uint64(ruleID), Version: uint64(ver), At: time.Unix(0, at).UTC(),
			},
		}})
	}); err != nil {
		return fmt.Errorf("export drop records: %w", err)
	}
	return nil
}

// importRuleRecords writes the rules (IDs and counts kept, the rules
// version set to theirs), saved queries and drop records of one Import
// batch; the other records are the caller's. It refuses a rule ID or a
// saved query name already stored, and leaves out drop records of feeds
// the store does not have.
func importRuleRecords(ctx context.Context, tx pgx.Tx, batch []store.Record) error {
	var version uint64
	haveRules := false
	var maxDropVersion int64 = -1
	var dFeed, dRule, dVer, dAt []int64
	var dHash, dKey [][]byte
	var dContent []string
	for _, rec := range batch {
		switch {
		case rec.Rule != nil:
			r := *rec.Rule
			data, err := ruleJSON(r)
			if err != nil {
				return fmt.Errorf("import rule %d: %w", r.ID, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rules (id, feed_id, data, dropped, kept, timeouts) VALUES ($1, $2, $3, $4, $5, $6)`,
				int64(r.ID), ruleFeedColumn(r.FeedID), data, r.Dropped, r.Kept, r.Timeouts); err != nil {
				return fmt.Errorf("import rule %d: %w", r.ID, err)
			}
			version, haveRules = rec.RulesVersion, true
		case rec.Saved != nil:
			data, err := json.Marshal(rec.Saved)
			if err != nil {
				return fmt.Errorf("import saved query %s: %w", rec.Saved.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO saved (name, data) VALUES ($1, $2)`, rec.Saved.Name, data); err != nil {
				return fmt.Errorf("import saved query %s: %w", rec.Saved.Name, err)
			}
		case rec.Dropped != nil:
			d := rec.Dropped
			dFeed = append(dFeed, int64(d.FeedID))
			dHash = append(dHash, dropKeyHash(d.Key))
			dKey = append(dKey, []byte(d.Key))
			dRule = append(dRule, int64(d.RuleID))
			dVer = append(dVer, int64(d.Version))
			dAt = append(dAt, store.UnixNanos(d.At))
			dContent = append(dContent, d.ContentHash)
			maxDropVersion = max(maxDropVersion, int64(d.Version))
		}
	}
	if haveRules {
		// The inserts bumped the version: set it to the source's.
		if _, err := tx.Exec(ctx, `UPDATE rules_version SET version = $1`, int64(version)); err != nil {
			return fmt.Errorf("import rules version: %w", err)
		}
	}
	if len(dFeed) == 0 {
		return nil
	}
	// Records of a feed the store does not have are left out, as the
	// bbolt store's Import does (a feed removed while a poll ran).
	if _, err := tx.Exec(ctx, `INSERT INTO dropped (feed_id, key_hash, key, rule_id, version, at, content_hash)
		SELECT u.* FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[])
			AS u(feed_id, key_hash, key, rule_id, version, at, content_hash)
		WHERE EXISTS (SELECT 1 FROM feeds f WHERE f.id = u.feed_id)`,
		dFeed, dHash, dKey, dRule, dVer, dAt, dContent); err != nil {
		return fmt.Errorf("import drop records: %w", err)
	}
	// Drop records without any rule were made by rules removed since, so
	// the source's version is past theirs; one equal to a later version
	// of this store would look current.
	if _, err := tx.Exec(ctx, `UPDATE rules_version SET version = $1 + 1
		WHERE version <= $1 AND NOT EXISTS (SELECT 1 FROM rules)`, maxDropVersion); err != nil {
		return fmt.Errorf("import rules version: %w", err)
	}
	return nil
}

// finishRuleImport moves the rule ID sequence past the imported rules.
func finishRuleImport(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT setval('rules_id_seq', m) FROM (SELECT max(id) AS m FROM rules) x WHERE m IS NOT NULL`); err != nil {
		return fmt.Errorf("advance rule IDs: %w", err)
	}
	return nil
}
