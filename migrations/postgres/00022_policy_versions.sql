-- +goose Up
-- Versions of the central policy (policy.Version, issue 10): the Cedar policies, the
-- schema they were validated against ('' for the built-in Weft schema), the test cases
-- kept beside them (a JSON array of policy.TestCase), who applied it and why. Version
-- numbers grow by one per apply; the primary key makes two concurrent applies of the
-- same number conflict, so one of them is refused. A version never changes once
-- saved: the history is what was enforced.
CREATE TABLE policy_versions (
    version     BIGINT PRIMARY KEY CHECK (version > 0),
    policies    TEXT NOT NULL,
    schema_text TEXT NOT NULL DEFAULT '',
    tests       TEXT NOT NULL DEFAULT '[]',
    author      TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
-- +goose StatementBegin
CREATE FUNCTION policy_versions_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'policy_versions rows never change';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION policy_versions_immutable();

-- +goose Down
DROP TABLE policy_versions;
DROP FUNCTION policy_versions_immutable();
