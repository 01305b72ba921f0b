-- +goose Up
-- Password reset ids mailed to users, by the hash of the id: one per user
-- at a time (a newer request replaces it), valid until expires, used once.
CREATE TABLE password_resets (
    hash    BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX password_resets_user ON password_resets(user_id);

-- +goose Down
DROP TABLE password_resets;
