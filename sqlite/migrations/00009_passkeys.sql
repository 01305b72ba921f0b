-- +goose Up
-- Users' passkeys (WebAuthn credentials): the library's credential record
-- (JSON) beside the columns mfad looks up and shows. users.passkeys counts
-- them, so that the user's row alone tells the login what it owes.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    record        BLOB NOT NULL,
    sign_count    INTEGER NOT NULL,
    created       INTEGER NOT NULL,
    last_used     INTEGER NOT NULL
);
CREATE INDEX passkeys_user ON passkeys(user_id);
ALTER TABLE users ADD COLUMN passkeys INTEGER NOT NULL DEFAULT 0;

-- The state of a WebAuthn ceremony (registration or login) between its two
-- requests: one per session, gone with the session, used once.
CREATE TABLE webauthn_challenges (
    session_hash BLOB PRIMARY KEY REFERENCES sessions(hash) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    data         BLOB NOT NULL,
    expires      INTEGER NOT NULL
);

-- +goose Down
DROP TABLE webauthn_challenges;
ALTER TABLE users DROP COLUMN passkeys;
DROP TABLE passkeys;
