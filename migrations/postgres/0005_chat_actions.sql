-- Chat actions: workspace changes the assistant proposes in a reply and the manager confirms,
-- cancels or undoes. Kept with the reply that proposed them, as part of the audit trail.
CREATE TABLE chat_actions (
    id           UUID PRIMARY KEY,
    user_id      TEXT NOT NULL,
    session_id   UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    message_id   UUID NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    -- the validated action: {"kind": "update_task", "task_id": ..., "status": "completed"}
    spec         JSONB NOT NULL,
    summary      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('proposed', 'applying', 'applied', 'cancelled', 'undoing', 'undone', 'failed')),
    before       JSONB,
    after        JSONB,
    error        TEXT,
    proposed_at  TIMESTAMPTZ NOT NULL,
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    undone_by    TEXT,
    undone_at    TIMESTAMPTZ
);
CREATE INDEX chat_actions_session ON chat_actions (session_id, id);

-- A note added by a chat action can be taken back by its undo.
ALTER TABLE delegation_notes ADD COLUMN deleted_at TIMESTAMPTZ;
