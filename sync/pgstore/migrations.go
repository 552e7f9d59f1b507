package pgstore

// migration is one step of the schema. Its statements run in the migrating
// transaction, after every earlier step, exactly once per database.
type migration struct {
	version int
	name    string
	stmts   []string
}

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
