-- +goose Up
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    force_2fa  BOOLEAN NOT NULL DEFAULT false,
    created    BIGINT NOT NULL,
    modified   BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    super_admin   BOOLEAN NOT NULL DEFAULT false,
    password_hash TEXT NOT NULL,
    has_2fa       BOOLEAN NOT NULL DEFAULT false,
    forced_2fa    BOOLEAN NOT NULL DEFAULT false,
    totp_seal     BYTEA,
    totp_gen      BIGINT NOT NULL DEFAULT 0,
    totp_last     BIGINT NOT NULL DEFAULT 0,
    has_pin       BOOLEAN NOT NULL DEFAULT false,
    forced_pin    BOOLEAN NOT NULL DEFAULT false,
    pin_hash      TEXT,
    created       BIGINT NOT NULL,
    modified      BIGINT NOT NULL,
    last_login    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX users_account ON users(account_id);

CREATE TABLE sessions (
    hash      BYTEA PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    step      INTEGER NOT NULL DEFAULT 0,
    created   BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires   BIGINT NOT NULL,
    failures  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires);

CREATE TABLE pending_totp (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    seal    BYTEA NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
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
