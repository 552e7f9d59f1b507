-- The schema as edgeauthz created it before migrations were versioned
-- (EnsureSchema, schema version 1), with some data written the way that
-- code wrote it. The CREATE statements are, byte for byte apart from
-- indentation, the schema list of sync/postgres.go in the parent of commit
-- e814a7b (the last version-1 code): git show e814a7b^:sync/postgres.go
CREATE TABLE IF NOT EXISTS edgeauthz_schema (
	version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS edgeauthz_policy_revisions (
	id         bigserial PRIMARY KEY,
	document   text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS edgeauthz_tuples (
	object   text NOT NULL,
	relation text NOT NULL,
	subject  text NOT NULL,
	PRIMARY KEY (object, relation, subject)
);
CREATE TABLE IF NOT EXISTS edgeauthz_tuple_changelog (
	seq        bigserial PRIMARY KEY,
	op         char(1) NOT NULL CHECK (op IN ('w', 'd')),
	object     text NOT NULL,
	relation   text NOT NULL,
	subject    text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO edgeauthz_schema (version) VALUES (1);
INSERT INTO edgeauthz_policy_revisions (document) VALUES ('routes: []');
INSERT INTO edgeauthz_tuples (object, relation, subject) VALUES
	('document:d1', 'viewer', 'user:ann'),
	('document:d1', 'viewer', 'team:eng#member');
INSERT INTO edgeauthz_tuple_changelog (op, object, relation, subject) VALUES
	('w', 'document:d1', 'viewer', 'user:ann'),
	('w', 'document:d1', 'viewer', 'user:bob'),
	('d', 'document:d1', 'viewer', 'user:bob'),
	('w', 'document:d1', 'viewer', 'team:eng#member');
