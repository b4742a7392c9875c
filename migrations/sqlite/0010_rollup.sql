-- Analytics over months must not read every message: each question and reply is also counted
-- in a roll-up row per user, UTC quarter-hour, session, role, model and outcome, kept exact by
-- the triggers below on every insert, change and delete of a message (a deleted session takes
-- its rows with it). Quarter-hours because every time zone in use is a whole number of them
-- from UTC, so local days and hours are still exact; `model` is '' when none was recorded and
-- cost is summed in nano-dollars, so sums do not drift.
CREATE TABLE chat_rollup (
    user_id           TEXT NOT NULL,
    bucket            INTEGER NOT NULL,
    session_id        TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role              TEXT NOT NULL,
    model             TEXT NOT NULL,
    status            TEXT NOT NULL,
    messages          INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_nusd         INTEGER NOT NULL,
    PRIMARY KEY (user_id, bucket, session_id, role, model, status)
) WITHOUT ROWID;
CREATE INDEX chat_rollup_session ON chat_rollup (session_id, bucket);
CREATE INDEX chat_rollup_bucket ON chat_rollup (bucket);

INSERT INTO chat_rollup
SELECT s.user_id, unixepoch(m.created_at) / 900 * 900, m.session_id, m.role,
       COALESCE(m.model_used, ''), m.status, COUNT(*), SUM(COALESCE(m.prompt_tokens, 0)),
       SUM(CASE WHEN m.prompt_tokens IS NULL AND m.completion_tokens IS NULL
           THEN COALESCE(m.tokens_used, 0) ELSE COALESCE(m.completion_tokens, 0) END),
       SUM(COALESCE(m.cached_tokens, 0)), SUM(CAST(ROUND(COALESCE(m.cost_usd, 0) * 1e9) AS INTEGER))
FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id
GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER chat_rollup_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_rollup
    SELECT s.user_id, unixepoch(NEW.created_at) / 900 * 900, NEW.session_id, NEW.role,
           COALESCE(NEW.model_used, ''), NEW.status, 1, COALESCE(NEW.prompt_tokens, 0),
           CASE WHEN NEW.prompt_tokens IS NULL AND NEW.completion_tokens IS NULL
               THEN COALESCE(NEW.tokens_used, 0) ELSE COALESCE(NEW.completion_tokens, 0) END,
           COALESCE(NEW.cached_tokens, 0), CAST(ROUND(COALESCE(NEW.cost_usd, 0) * 1e9) AS INTEGER)
    FROM chat_sessions s WHERE s.id = NEW.session_id
    ON CONFLICT (user_id, bucket, session_id, role, model, status) DO UPDATE SET
        messages = messages + 1,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        completion_tokens = completion_tokens + excluded.completion_tokens,
        cached_tokens = cached_tokens + excluded.cached_tokens,
        cost_nusd = cost_nusd + excluded.cost_nusd;
END;

-- A message's old figures leave its row (and an emptied row goes) before its new ones arrive:
-- the same steps as the insert and delete triggers, in that order.
CREATE TRIGGER chat_rollup_update AFTER UPDATE OF session_id, role, model_used, status, tokens_used,
    prompt_tokens, completion_tokens, cached_tokens, cost_usd, created_at ON chat_messages BEGIN
    UPDATE chat_rollup SET
        messages = messages - 1,
        prompt_tokens = prompt_tokens - COALESCE(OLD.prompt_tokens, 0),
        completion_tokens = completion_tokens - CASE WHEN OLD.prompt_tokens IS NULL AND OLD.completion_tokens IS NULL
            THEN COALESCE(OLD.tokens_used, 0) ELSE COALESCE(OLD.completion_tokens, 0) END,
        cached_tokens = cached_tokens - COALESCE(OLD.cached_tokens, 0),
        cost_nusd = cost_nusd - CAST(ROUND(COALESCE(OLD.cost_usd, 0) * 1e9) AS INTEGER)
    WHERE session_id = OLD.session_id AND bucket = unixepoch(OLD.created_at) / 900 * 900
      AND role = OLD.role AND model = COALESCE(OLD.model_used, '') AND status = OLD.status;
    DELETE FROM chat_rollup
    WHERE session_id = OLD.session_id AND bucket = unixepoch(OLD.created_at) / 900 * 900
      AND messages = 0;
    INSERT INTO chat_rollup
    SELECT s.user_id, unixepoch(NEW.created_at) / 900 * 900, NEW.session_id, NEW.role,
           COALESCE(NEW.model_used, ''), NEW.status, 1, COALESCE(NEW.prompt_tokens, 0),
           CASE WHEN NEW.prompt_tokens IS NULL AND NEW.completion_tokens IS NULL
               THEN COALESCE(NEW.tokens_used, 0) ELSE COALESCE(NEW.completion_tokens, 0) END,
           COALESCE(NEW.cached_tokens, 0), CAST(ROUND(COALESCE(NEW.cost_usd, 0) * 1e9) AS INTEGER)
    FROM chat_sessions s WHERE s.id = NEW.session_id
    ON CONFLICT (user_id, bucket, session_id, role, model, status) DO UPDATE SET
        messages = messages + 1,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        completion_tokens = completion_tokens + excluded.completion_tokens,
        cached_tokens = cached_tokens + excluded.cached_tokens,
        cost_nusd = cost_nusd + excluded.cost_nusd;
END;

CREATE TRIGGER chat_rollup_delete AFTER DELETE ON chat_messages BEGIN
    UPDATE chat_rollup SET
        messages = messages - 1,
        prompt_tokens = prompt_tokens - COALESCE(OLD.prompt_tokens, 0),
        completion_tokens = completion_tokens - CASE WHEN OLD.prompt_tokens IS NULL AND OLD.completion_tokens IS NULL
            THEN COALESCE(OLD.tokens_used, 0) ELSE COALESCE(OLD.completion_tokens, 0) END,
        cached_tokens = cached_tokens - COALESCE(OLD.cached_tokens, 0),
        cost_nusd = cost_nusd - CAST(ROUND(COALESCE(OLD.cost_usd, 0) * 1e9) AS INTEGER)
    WHERE session_id = OLD.session_id AND bucket = unixepoch(OLD.created_at) / 900 * 900
      AND role = OLD.role AND model = COALESCE(OLD.model_used, '') AND status = OLD.status;
    DELETE FROM chat_rollup
    WHERE session_id = OLD.session_id AND bucket = unixepoch(OLD.created_at) / 900 * 900
      AND messages = 0;
END;
