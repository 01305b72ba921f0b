-- +goose Up
-- Users' one-time recovery codes, by hash: a set of ten replaces the
-- previous one; a code is deleted when it is used.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    BLOB NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
);

-- +goose Down
DROP TABLE recovery_codes;
