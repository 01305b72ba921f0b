-- +goose Up
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    addr       TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX audit_account ON audit(account_id, id);

-- +goose Down
DROP TABLE audit;
