-- +goose Up
-- A user's limited sessions, newest first, in one index range: a password
-- login closes the user's oldest limited sessions beyond ten, without
-- reading the user's full sessions. It replaces the index on user_id alone,
-- whose lookups (a user's sessions, the cascade of a deleted user) its
-- leading column serves, so a session write updates no more indexes.
CREATE INDEX sessions_user_kind ON sessions(user_id, kind, created);
DROP INDEX sessions_user;

-- +goose Down
CREATE INDEX sessions_user ON sessions(user_id);
DROP INDEX sessions_user_kind;
