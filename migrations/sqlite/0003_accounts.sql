-- Accounts: users, browser sessions and API tokens; every operations row gets an owner.
-- Rows written before accounts existed keep their old owner value ('john', or '' for the
-- operations tables) until the first account is created: that account (or the one OPSCHAT_USER
-- names) claims every row whose owner is not an account, in the transaction that creates it.
-- SQLite cannot drop a column's UNIQUE constraint, so the operations tables are rebuilt with
-- per-owner keys.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE CHECK (username <> ''),
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'manager')),
    time_zone     TEXT,
    disabled_at   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE instance_setup (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    first_user_id TEXT NOT NULL REFERENCES users (id),
    set_up_at     TEXT NOT NULL
);

CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    user_agent   TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (name <> ''),
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE tasks_owned (
    id                    TEXT PRIMARY KEY NOT NULL,
    user_id               TEXT NOT NULL,
    external_id           TEXT,
    title                 TEXT NOT NULL CHECK (title <> ''),
    description           TEXT,
    due_date              TEXT,
    priority              TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status                TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'completed', 'cancelled')),
    time_estimate_minutes INTEGER CHECK (time_estimate_minutes > 0),
    source                TEXT,
    delegatable           INTEGER NOT NULL DEFAULT 0 CHECK (delegatable IN (0, 1)),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    UNIQUE (user_id, external_id)
);
INSERT INTO tasks_owned (id, user_id, external_id, title, description, due_date, priority, status,
                         time_estimate_minutes, source, delegatable, created_at, updated_at)
SELECT id, '', external_id, title, description, due_date, priority, status,
       time_estimate_minutes, source, delegatable, created_at, updated_at FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_owned RENAME TO tasks;
CREATE INDEX tasks_owner_open_by_due ON tasks (user_id, status, due_date);

CREATE TABLE delegations_owned (
    id                TEXT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL,
    external_id       TEXT,
    task_description  TEXT NOT NULL CHECK (task_description <> ''),
    assigned_to       TEXT NOT NULL CHECK (assigned_to <> ''),
    assigned_to_email TEXT,
    due_date          TEXT,
    follow_up_date    TEXT,
    priority          TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('planning', 'active', 'completed', 'on_hold')),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (user_id, external_id)
);
INSERT INTO delegations_owned (id, user_id, external_id, task_description, assigned_to,
                               assigned_to_email, due_date, follow_up_date, priority, status,
                               created_at, updated_at)
SELECT id, '', external_id, task_description, assigned_to, assigned_to_email, due_date,
       follow_up_date, priority, status, created_at, updated_at FROM delegations;
DROP TABLE delegations;
ALTER TABLE delegations_owned RENAME TO delegations;
CREATE INDEX delegations_owner_by_status ON delegations (user_id, status, follow_up_date);

CREATE TABLE daily_digests_owned (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL,
    external_id TEXT,
    date        TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (user_id, external_id),
    UNIQUE (user_id, date)
);
INSERT INTO daily_digests_owned (id, user_id, external_id, date, text, created_at, updated_at)
SELECT id, '', external_id, date, text, created_at, updated_at FROM daily_digests;
DROP TABLE daily_digests;
ALTER TABLE daily_digests_owned RENAME TO daily_digests;
