-- The operations workspace: tasks, delegations and digests are edited in opschat itself.
-- Every row carries a version (optimistic concurrency: a write names the version it saw), items
-- are soft-deleted (a chat answer may cite them), and every change is logged in activity_log.

ALTER TABLE tasks ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN completed_at TIMESTAMPTZ;
ALTER TABLE tasks ADD COLUMN deleted_at TIMESTAMPTZ;
-- Eisenhower quadrant, as the original kept it: do, schedule, delegate, eliminate
ALTER TABLE tasks ADD COLUMN quadrant TEXT CHECK (quadrant IN ('do', 'schedule', 'delegate', 'eliminate'));
-- JSON repeat rule; NULL for a one-off task
ALTER TABLE tasks ADD COLUMN recurrence TEXT;
-- the first occurrence of a repeating task, and the occurrence this one follows
ALTER TABLE tasks ADD COLUMN series_id UUID;
ALTER TABLE tasks ADD COLUMN previous_id UUID;
-- the delegation the task was handed over in
ALTER TABLE tasks ADD COLUMN delegation_id UUID;
UPDATE tasks SET completed_at = updated_at WHERE status = 'completed';
CREATE INDEX tasks_previous ON tasks (previous_id) WHERE previous_id IS NOT NULL;

ALTER TABLE delegations ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE delegations ADD COLUMN completed_at TIMESTAMPTZ;
ALTER TABLE delegations ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE delegations ADD COLUMN last_followed_up_at TIMESTAMPTZ;
ALTER TABLE delegations ADD COLUMN task_id UUID;
UPDATE delegations SET completed_at = updated_at WHERE status = 'completed';

ALTER TABLE daily_digests ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE delegation_notes (
    id            UUID PRIMARY KEY,
    user_id       TEXT NOT NULL,
    delegation_id UUID NOT NULL REFERENCES delegations (id) ON DELETE CASCADE,
    body          TEXT NOT NULL CHECK (body <> ''),
    author_id     TEXT NOT NULL,
    author_name   TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX delegation_notes_by_delegation ON delegation_notes (delegation_id, id);

CREATE TABLE activity_log (
    id           UUID PRIMARY KEY,
    -- whose data changed
    user_id      TEXT NOT NULL,
    item_type    TEXT NOT NULL CHECK (item_type IN ('task', 'delegation', 'digest')),
    item_id      UUID NOT NULL,
    action       TEXT NOT NULL,
    -- who changed it, and through what (web, api, sso, cli, import, recurrence, ...)
    actor_id     TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    via          TEXT NOT NULL,
    -- {"field": [before, after]} of an update; NULL for a creation
    changes      JSONB,
    -- the item as it stood after the change: what a citation of that moment resolves to
    snapshot     JSONB NOT NULL,
    item_version BIGINT NOT NULL,
    at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX activity_log_item ON activity_log (user_id, item_id, id);
CREATE INDEX activity_log_user ON activity_log (user_id, id);
