-- +goose Up
-- Users an admin disabled (status "D"): they cannot log in.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE users DROP COLUMN disabled;
