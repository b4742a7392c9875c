-- Analytics over months must not read every message: each question and reply is also counted
-- in a roll-up row per user, UTC quarter-hour, session, role, model and outcome, kept exact by
-- the trigger below on every insert, change and delete of a message (a deleted session takes
-- its rows with it). Quarter-hours because every time zone in use is a whole number of them
-- from UTC, so local days and hours are still exact; `model` is '' when none was recorded and
-- cost is summed in nano-dollars, so sums do not drift.
CREATE TABLE chat_rollup (
    user_id           TEXT NOT NULL,
    bucket            BIGINT NOT NULL,
    session_id        UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role              TEXT NOT NULL,
    model             TEXT NOT NULL,
    status            TEXT NOT NULL,
    messages          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens     BIGINT NOT NULL,
    cost_nusd         BIGINT NOT NULL,
    PRIMARY KEY (user_id, bucket, session_id, role, model, status)
);
CREATE INDEX chat_rollup_session ON chat_rollup (session_id, bucket);
CREATE INDEX chat_rollup_bucket ON chat_rollup (bucket);

-- What one message adds to its row, `k` times (-1 takes it away).
CREATE FUNCTION chat_rollup_add(m chat_messages, k INTEGER) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    b BIGINT := FLOOR(EXTRACT(EPOCH FROM m.created_at))::BIGINT / 900 * 900;
BEGIN
    IF k > 0 THEN
        INSERT INTO chat_rollup AS r
        SELECT s.user_id, b, m.session_id, m.role, COALESCE(m.model_used, ''), m.status, 1,
               COALESCE(m.prompt_tokens, 0),
               CASE WHEN m.prompt_tokens IS NULL AND m.completion_tokens IS NULL
                   THEN COALESCE(m.tokens_used, 0) ELSE COALESCE(m.completion_tokens, 0) END,
               COALESCE(m.cached_tokens, 0), ROUND(COALESCE(m.cost_usd, 0) * 1e9)::BIGINT
        FROM chat_sessions s WHERE s.id = m.session_id
        ON CONFLICT (user_id, bucket, session_id, role, model, status) DO UPDATE SET
            messages = r.messages + 1,
            prompt_tokens = r.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = r.completion_tokens + EXCLUDED.completion_tokens,
            cached_tokens = r.cached_tokens + EXCLUDED.cached_tokens,
            cost_nusd = r.cost_nusd + EXCLUDED.cost_nusd;
    ELSE
        -- Nothing to take from when the session (and so its rows) is being deleted.
        UPDATE chat_rollup r SET
            messages = r.messages - 1,
            prompt_tokens = r.prompt_tokens - COALESCE(m.prompt_tokens, 0),
            completion_tokens = r.completion_tokens - CASE
                WHEN m.prompt_tokens IS NULL AND m.completion_tokens IS NULL
                THEN COALESCE(m.tokens_used, 0) ELSE COALESCE(m.completion_tokens, 0) END,
            cached_tokens = r.cached_tokens - COALESCE(m.cached_tokens, 0),
            cost_nusd = r.cost_nusd - ROUND(COALESCE(m.cost_usd, 0) * 1e9)::BIGINT
        WHERE r.session_id = m.session_id AND r.bucket = b AND r.role = m.role
          AND r.model = COALESCE(m.model_used, '') AND r.status = m.status;
        DELETE FROM chat_rollup r
        WHERE r.session_id = m.session_id AND r.bucket = b AND r.messages = 0;
    END IF;
END $$;

CREATE FUNCTION chat_rollup_apply() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM chat_rollup_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM chat_rollup_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER chat_rollup_apply
AFTER INSERT OR DELETE OR UPDATE OF session_id, role, model_used, status, tokens_used, prompt_tokens,
    completion_tokens, cached_tokens, cost_usd, created_at
ON chat_messages FOR EACH ROW EXECUTE FUNCTION chat_rollup_apply();

INSERT INTO chat_rollup
SELECT s.user_id, FLOOR(EXTRACT(EPOCH FROM m.created_at))::BIGINT / 900 * 900, m.session_id, m.role,
       COALESCE(m.model_used, ''), m.status, COUNT(*), SUM(COALESCE(m.prompt_tokens, 0)),
       SUM(CASE WHEN m.prompt_tokens IS NULL AND m.completion_tokens IS NULL
           THEN COALESCE(m.tokens_used, 0) ELSE COALESCE(m.completion_tokens, 0) END),
       SUM(COALESCE(m.cached_tokens, 0)), SUM(ROUND(COALESCE(m.cost_usd, 0) * 1e9)::BIGINT)
FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id
GROUP BY 1, 2, 3, 4, 5, 6;
