-- +goose Up
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    force_2fa  INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    modified   INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    super_admin   INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL,
    has_2fa       INTEGER NOT NULL DEFAULT 0,
    forced_2fa    INTEGER NOT NULL DEFAULT 0,
    totp_seal     BLOB,
    totp_gen      INTEGER NOT NULL DEFAULT 0,
    totp_last     INTEGER NOT NULL DEFAULT 0,
    has_pin       INTEGER NOT NULL DEFAULT 0,
    forced_pin    INTEGER NOT NULL DEFAULT 0,
    pin_hash      TEXT,
    created       INTEGER NOT NULL,
    modified      INTEGER NOT NULL,
    last_login    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_account ON users(account_id);

CREATE TABLE sessions (
    hash      BLOB PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    step      INTEGER NOT NULL DEFAULT 0,
    created   INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    expires   INTEGER NOT NULL,
    failures  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires);

CREATE TABLE pending_totp (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    seal    BLOB NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE throttle;
DROP TABLE pending_totp;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE accounts;
