-- opschat schema for PostgreSQL. Column names of chat_sessions / chat_messages follow the
-- original feature; the extra columns are what an audit trail and a real system need.

CREATE TABLE chat_sessions (
    id               UUID PRIMARY KEY,
    user_id          TEXT NOT NULL DEFAULT 'john',
    title            TEXT NOT NULL,
    context_snapshot JSONB,
    started_at       TIMESTAMPTZ NOT NULL,
    last_message_at  TIMESTAMPTZ NOT NULL,
    message_count    INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    -- highest seq handed out in this session; bumped in the same transaction as each insert
    last_seq         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX chat_sessions_user_recent ON chat_sessions (user_id, last_message_at DESC);

CREATE TABLE chat_messages (
    id                UUID PRIMARY KEY,
    session_id        UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq               BIGINT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT NOT NULL,
    context_used      JSONB,
    model_used        TEXT,
    tokens_used       INTEGER CHECK (tokens_used >= 0),
    prompt_tokens     INTEGER CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER CHECK (completion_tokens >= 0),
    status            TEXT NOT NULL DEFAULT 'complete'
        CHECK (status IN ('complete', 'streaming', 'stopped', 'interrupted', 'failed', 'superseded')),
    error             TEXT,
    reply_to          UUID REFERENCES chat_messages (id) ON DELETE SET NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, seq)
);

CREATE TABLE tasks (
    id                    UUID PRIMARY KEY,
    external_id           TEXT UNIQUE,
    title                 TEXT NOT NULL CHECK (title <> ''),
    description           TEXT,
    due_date              DATE,
    priority              TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status                TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'completed', 'cancelled')),
    time_estimate_minutes INTEGER CHECK (time_estimate_minutes > 0),
    source                TEXT,
    delegatable           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_open_by_due ON tasks (status, due_date);

CREATE TABLE delegations (
    id                UUID PRIMARY KEY,
    external_id       TEXT UNIQUE,
    task_description  TEXT NOT NULL CHECK (task_description <> ''),
    assigned_to       TEXT NOT NULL CHECK (assigned_to <> ''),
    assigned_to_email TEXT,
    due_date          DATE,
    follow_up_date    DATE,
    priority          TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('planning', 'active', 'completed', 'on_hold')),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX delegations_by_status ON delegations (status, follow_up_date);

CREATE TABLE daily_digests (
    id          UUID PRIMARY KEY,
    external_id TEXT UNIQUE,
    date        DATE NOT NULL UNIQUE,
    text        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
