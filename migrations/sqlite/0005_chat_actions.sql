-- Chat actions: workspace changes the assistant proposes in a reply and the manager confirms,
-- cancels or undoes. Kept with the reply that proposed them, as part of the audit trail.
CREATE TABLE chat_actions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    message_id   TEXT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    -- the validated action: {"kind": "update_task", "task_id": ..., "status": "completed"}
    spec         TEXT NOT NULL,
    summary      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('proposed', 'applying', 'applied', 'cancelled', 'undoing', 'undone', 'failed')),
    before       TEXT,
    after        TEXT,
    error        TEXT,
    proposed_at  TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   TEXT,
    undone_by    TEXT,
    undone_at    TEXT
);
CREATE INDEX chat_actions_session ON chat_actions (session_id, id);

-- A note added by a chat action can be taken back by its undo.
ALTER TABLE delegation_notes ADD COLUMN deleted_at TEXT;
