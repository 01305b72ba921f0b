-- +goose Up
-- Users' one-time recovery codes, by hash: a set of ten replaces the
-- previous one; a code is deleted when it is used.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    BYTEA NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);

-- +goose Down
DROP TABLE recovery_codes;
