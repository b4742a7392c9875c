-- opschat schema for SQLite: the same tables as PostgreSQL. UUIDs are hyphenated TEXT,
-- timestamps RFC 3339 TEXT in UTC, dates YYYY-MM-DD TEXT, JSON as TEXT checked by json_valid.

CREATE TABLE chat_sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL DEFAULT 'john',
    title            TEXT NOT NULL,
    context_snapshot TEXT CHECK (context_snapshot IS NULL OR json_valid(context_snapshot)),
    started_at       TEXT NOT NULL,
    last_message_at  TEXT NOT NULL,
    message_count    INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    is_active        INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_seq         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX chat_sessions_user_recent ON chat_sessions (user_id, last_message_at DESC);

CREATE TABLE chat_messages (
    id                TEXT PRIMARY KEY NOT NULL,
    session_id        TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT NOT NULL,
    context_used      TEXT CHECK (context_used IS NULL OR json_valid(context_used)),
    model_used        TEXT,
    tokens_used       INTEGER CHECK (tokens_used >= 0),
    prompt_tokens     INTEGER CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER CHECK (completion_tokens >= 0),
    status            TEXT NOT NULL DEFAULT 'complete'
        CHECK (status IN ('complete', 'streaming', 'stopped', 'interrupted', 'failed', 'superseded')),
    error             TEXT,
    reply_to          TEXT REFERENCES chat_messages (id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (session_id, seq)
);

CREATE TABLE tasks (
    id                    TEXT PRIMARY KEY NOT NULL,
    external_id           TEXT UNIQUE,
    title                 TEXT NOT NULL CHECK (title <> ''),
    description           TEXT,
    due_date              TEXT,
    priority              TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status                TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'completed', 'cancelled')),
    time_estimate_minutes INTEGER CHECK (time_estimate_minutes > 0),
    source                TEXT,
    delegatable           INTEGER NOT NULL DEFAULT 0 CHECK (delegatable IN (0, 1)),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX tasks_open_by_due ON tasks (status, due_date);

CREATE TABLE delegations (
    id                TEXT PRIMARY KEY NOT NULL,
    external_id       TEXT UNIQUE,
    task_description  TEXT NOT NULL CHECK (task_description <> ''),
    assigned_to       TEXT NOT NULL CHECK (assigned_to <> ''),
    assigned_to_email TEXT,
    due_date          TEXT,
    follow_up_date    TEXT,
    priority          TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('planning', 'active', 'completed', 'on_hold')),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX delegations_by_status ON delegations (status, follow_up_date);

CREATE TABLE daily_digests (
    id          TEXT PRIMARY KEY NOT NULL,
    external_id TEXT UNIQUE,
    date        TEXT NOT NULL UNIQUE,
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
