-- +goose Up
-- Password reset ids mailed to users, by the hash of the id: one per user
-- at a time (a newer request replaces it), valid until expires, used once.
CREATE TABLE password_resets (
    hash    BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX password_resets_user ON password_resets(user_id);

-- +goose Down
DROP TABLE password_resets;
