package pgstore

import "strconv"

// migration is one step of the schema. Its statements run in the migrating
// transaction, after every earlier step, exactly once per database.
type migration struct {
	version int
	name    string
	stmts   []string
}

// lockKeyText is lockKey as SQL text, for statements that take the lock
// themselves.
var lockKeyText = strconv.FormatInt(lockKey, 10)

// migrations is the schema's history, oldest first. To change the schema,
// append one entry with the next version; never edit an entry that has
// shipped, since databases already hold its result. The list is never
// mutated at run time.
var migrations = []migration{
	{
		// Version 1 is the schema edgeauthz created before migrations were
		// versioned, statement for statement, so that applying it to such
		// a database changes nothing.
		version: 1,
		name:    "policy revisions, tuples and the tuple changelog",
		stmts: []string{
			`CREATE TABLE IF NOT EXISTS edgeauthz_schema (
				version integer NOT NULL
			)`,
			`CREATE TABLE IF NOT EXISTS edgeauthz_policy_revisions (
				id         bigserial PRIMARY KEY,
				document   text NOT NULL,
				created_at timestamptz NOT NULL DEFAULT now()
			)`,
			`CREATE TABLE IF NOT EXISTS edgeauthz_tuples (
				object   text NOT NULL,
				relation text NOT NULL,
				subject  text NOT NULL,
				PRIMARY KEY (object, relation, subject)
			)`,
			`CREATE TABLE IF NOT EXISTS edgeauthz_tuple_changelog (
				seq        bigserial PRIMARY KEY,
				op         char(1) NOT NULL CHECK (op IN ('w', 'd')),
				object     text NOT NULL,
				relation   text NOT NULL,
				subject    text NOT NULL,
				created_at timestamptz NOT NULL DEFAULT now()
			)`,
		},
	},
	{
		// The relationship engine's length limits (rebac.ParseTuple), as a
		// backstop for rows written around edgeauthz. NOT VALID: rows
		// already there are not checked (edges skip those they cannot
		// apply), so the migration cannot fail on old data.
		version: 2,
		name:    "tuple length limits",
		stmts: []string{
			`ALTER TABLE edgeauthz_tuples ADD CONSTRAINT edgeauthz_tuples_limits CHECK (` + tupleLimits + `) NOT VALID`,
			// Deletions stay possible for rows written before the limits.
			`ALTER TABLE edgeauthz_tuple_changelog ADD CONSTRAINT edgeauthz_tuple_changelog_limits CHECK (op = 'd' OR (` + tupleLimits + `)) NOT VALID`,
		},
	},
	{
		// Conditional tuples: the name of one of the model's conditions
		// ('' for none) and the tuple's part of its context, a JSON object
		// (NULL for none), on the tuples and on the changelog's writes.
		// Existing rows become unconditional tuples, as they were.
		version: 3,
		name:    "tuple conditions",
		stmts: []string{
			`ALTER TABLE edgeauthz_tuples
				ADD COLUMN condition_name text NOT NULL DEFAULT '',
				ADD COLUMN condition_context jsonb`,
			`ALTER TABLE edgeauthz_tuple_changelog
				ADD COLUMN condition_name text NOT NULL DEFAULT '',
				ADD COLUMN condition_context jsonb`,
			`ALTER TABLE edgeauthz_tuples ADD CONSTRAINT edgeauthz_tuples_condition CHECK (` + conditionRules + `)`,
			`ALTER TABLE edgeauthz_tuple_changelog ADD CONSTRAINT edgeauthz_tuple_changelog_condition CHECK (` + conditionRules + `)`,
		},
	},
	{
		// The audit trail: who published each revision and wrote each
		// changelog row ('' for writers that do not say, as before).
		version: 4,
		name:    "writers",
		stmts: []string{
			`ALTER TABLE edgeauthz_policy_revisions ADD COLUMN published_by text NOT NULL DEFAULT ''`,
			`ALTER TABLE edgeauthz_tuple_changelog ADD COLUMN written_by text NOT NULL DEFAULT ''`,
		},
	},
	{
		// Changelog retention: rows up to pruned_through are gone; a reader
		// behind it reloads the tuples in full.
		version: 5,
		name:    "changelog checkpoint",
		stmts: []string{
			`CREATE TABLE edgeauthz_changelog_checkpoint (
				one            boolean PRIMARY KEY DEFAULT true CHECK (one),
				pruned_through bigint NOT NULL DEFAULT 0,
				pruned_at      timestamptz
			)`,
			`INSERT INTO edgeauthz_changelog_checkpoint (one) VALUES (true)`,
		},
	},
	{
		// Policy packages and the writers allowed to publish them. See
		// packages.go: the scope check runs inside the database, in a
		// SECURITY DEFINER function, so a writer's PostgreSQL role needs no
		// write privilege on any table.
		version: 6,
		name:    "policy packages and scoped writers",
		stmts:   packagesMigration,
	},
	{
		// Readers ask for the rows after the highest seq they have seen, so
		// a row whose seq was chosen by its writer above the sequence
		// would hide every later row from them. The sequence now assigns
		// seq on every insert, whatever the writer says, and seq never
		// changes; the sequence is moved past any such row already there.
		// edgeauthz_changelog_last_seq lets a reader without privileges on
		// the sequence check that no row lies beyond it.
		version: 7,
		name:    "changelog seq from the sequence only",
		stmts: []string{
			`CREATE FUNCTION edgeauthz_tuple_changelog_seq() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF TG_OP = 'INSERT' THEN
					NEW.seq := nextval(pg_get_serial_sequence(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'seq'));
				ELSIF NEW.seq IS DISTINCT FROM OLD.seq THEN
					RAISE EXCEPTION 'edgeauthz_tuple_changelog.seq is assigned by its sequence and never changes';
				END IF;
				RETURN NEW;
			END $$`,
			// The trigger draws the value; a default would draw a second.
			// The sequence stays owned by the column.
			`ALTER TABLE edgeauthz_tuple_changelog ALTER COLUMN seq DROP DEFAULT`,
			`CREATE TRIGGER edgeauthz_tuple_changelog_seq BEFORE INSERT OR UPDATE OF seq ON edgeauthz_tuple_changelog
				FOR EACH ROW EXECUTE FUNCTION edgeauthz_tuple_changelog_seq()`,
			`SELECT setval(pg_get_serial_sequence('edgeauthz_tuple_changelog', 'seq'), m)
				FROM (SELECT max(seq) AS m FROM edgeauthz_tuple_changelog) AS t
				WHERE m > coalesce(pg_sequence_last_value(pg_get_serial_sequence('edgeauthz_tuple_changelog', 'seq')), 0)`,
			// Bound at creation (BEGIN ATOMIC), so the caller's search_path
			// cannot point it at another table.
			`CREATE FUNCTION edgeauthz_changelog_last_seq() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
			BEGIN ATOMIC
				SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('edgeauthz_tuple_changelog', 'seq')::regclass), 0);
			END`,
		},
	},
	{
		// Readers also miss a row whose transaction drew its seq and then
		// committed after a row with a higher seq was read: a writer around
		// edgeauthz with a long transaction would lose a change, a
		// revocation say, for good. Every insert now takes the writers'
		// advisory lock before it draws its seq, so seqs are drawn in commit
		// order: a second writer waits until the first has committed.
		version: 8,
		name:    "changelog seq drawn in commit order",
		stmts: []string{
			`CREATE OR REPLACE FUNCTION edgeauthz_tuple_changelog_seq() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF TG_OP = 'INSERT' THEN
					PERFORM pg_advisory_xact_lock(` + lockKeyText + `);
					NEW.seq := nextval(pg_get_serial_sequence(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'seq'));
				ELSIF NEW.seq IS DISTINCT FROM OLD.seq THEN
					RAISE EXCEPTION 'edgeauthz_tuple_changelog.seq is assigned by its sequence and never changes';
				END IF;
				RETURN NEW;
			END $$`,
		},
	},
}

// conditionRules bounds a tuple's condition as rebac.ParseTuple does: a
// name of letters, digits, '_' and '-' (at most 256 bytes), and a context
// only with a name, as a JSON object of at most rebac.MaxContextBytes.
const conditionRules = `condition_name ~ '^([A-Za-z_][A-Za-z0-9_-]{0,255})?$'
	AND (condition_context IS NULL OR (condition_name <> ''
		AND jsonb_typeof(condition_context) = 'object'
		AND octet_length(condition_context::text) <= 16384))`

// tupleLimits bounds a tuple's parts as rebac.ParseTuple does: an object
// type:id of at most 256 bytes, a relation name of at most 50 bytes without
// ':', '#', '@', '*' or white space, a subject type:id (256), type:*
// or type:id#relation (256 + 1 + 50).
const tupleLimits = `octet_length(object) BETWEEN 3 AND 256
	AND octet_length(relation) BETWEEN 1 AND 50
	AND relation !~ '[:#@*[:space:]]'
	AND octet_length(subject) BETWEEN 3 AND 307`

// SchemaVersion is the version this code reads and writes: the last
// migration's.
func SchemaVersion() int { return migrations[len(migrations)-1].version }
