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
}

// SchemaVersion is the version this code reads and writes: the last
// migration's.
func SchemaVersion() int { return migrations[len(migrations)-1].version }
