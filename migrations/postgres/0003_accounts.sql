-- Accounts: users, browser sessions and API tokens; every operations row gets an owner.
-- Rows written before accounts existed keep their old owner value ('john', or '' for the
-- operations tables) until the first account is created: that account (or the one OPSCHAT_USER
-- names) claims every row whose owner is not an account, in the transaction that creates it.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    -- lower case, trimmed: the sign-in name
    username      TEXT NOT NULL UNIQUE CHECK (username <> ''),
    display_name  TEXT NOT NULL,
    -- argon2id PHC string; NULL for accounts created by a trusted single-sign-on header
    password_hash TEXT,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'manager')),
    -- IANA time zone name; NULL means the instance default
    time_zone     TEXT,
    disabled_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- One row once the first account exists: two concurrent first-account set-ups cannot both win.
CREATE TABLE instance_setup (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    first_user_id UUID NOT NULL REFERENCES users (id),
    set_up_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE web_sessions (
    -- SHA-256 (hex) of the cookie's random token: the token itself is never stored
    id           TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    user_agent   TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (name <> ''),
    token_hash   TEXT NOT NULL UNIQUE,
    -- the first characters of the token, so a user can tell tokens apart
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

ALTER TABLE chat_sessions ALTER COLUMN user_id DROP DEFAULT;

ALTER TABLE tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ALTER COLUMN user_id DROP DEFAULT;
ALTER TABLE tasks DROP CONSTRAINT tasks_external_id_key;
CREATE UNIQUE INDEX tasks_owner_external ON tasks (user_id, external_id);
DROP INDEX tasks_open_by_due;
CREATE INDEX tasks_owner_open_by_due ON tasks (user_id, status, due_date);

ALTER TABLE delegations ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ALTER COLUMN user_id DROP DEFAULT;
ALTER TABLE delegations DROP CONSTRAINT delegations_external_id_key;
CREATE UNIQUE INDEX delegations_owner_external ON delegations (user_id, external_id);
DROP INDEX delegations_by_status;
CREATE INDEX delegations_owner_by_status ON delegations (user_id, status, follow_up_date);

ALTER TABLE daily_digests ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE daily_digests ALTER COLUMN user_id DROP DEFAULT;
ALTER TABLE daily_digests DROP CONSTRAINT daily_digests_external_id_key;
ALTER TABLE daily_digests DROP CONSTRAINT daily_digests_date_key;
CREATE UNIQUE INDEX daily_digests_owner_external ON daily_digests (user_id, external_id);
CREATE UNIQUE INDEX daily_digests_owner_date ON daily_digests (user_id, date);
