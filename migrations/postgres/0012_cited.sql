-- The items answers drew on, counted without reading every reply's `context_used`: per user,
-- UTC day, session and item, how many answers (all but regenerated ones) listed it in
-- `items_used`, with the greatest title seen. Kept exact by the trigger below on every insert,
-- change and delete of a message (a deleted session takes its rows with it). A range reads its
-- whole UTC days here and its partial days at either end from the messages.
CREATE TABLE chat_cited (
    user_id    TEXT NOT NULL,
    day        BIGINT NOT NULL,
    session_id UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    answers    BIGINT NOT NULL,
    PRIMARY KEY (user_id, day, session_id, kind, item_id)
);
CREATE INDEX chat_cited_session ON chat_cited (session_id, day);
CREATE INDEX chat_cited_day ON chat_cited (day);

-- The items a message counts for: one row per kind and id, with how often and the title.
CREATE FUNCTION chat_cited_items(m chat_messages)
RETURNS TABLE (kind TEXT, item_id TEXT, title TEXT, answers BIGINT) LANGUAGE sql STABLE AS $$
    SELECT e.value ->> 'kind', e.value ->> 'id', MAX(COALESCE(e.value ->> 'title', '')), COUNT(*)
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.context_used -> 'items_used') = 'array'
        THEN m.context_used -> 'items_used' ELSE '[]'::jsonb END) AS e(value)
    WHERE m.role = 'assistant' AND m.status <> 'superseded' AND jsonb_typeof(e.value) = 'object'
      AND e.value ->> 'kind' IS NOT NULL AND length(e.value ->> 'id') = 36
    GROUP BY 1, 2
$$;

-- What one message adds to its rows, `k` times (-1 takes it away).
CREATE FUNCTION chat_cited_add(m chat_messages, k INTEGER) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    d BIGINT := FLOOR(EXTRACT(EPOCH FROM m.created_at))::BIGINT / 86400;
BEGIN
    IF m.role <> 'assistant' OR m.status = 'superseded' THEN
        RETURN;
    END IF;
    IF k > 0 THEN
        INSERT INTO chat_cited AS c
        SELECT s.user_id, d, m.session_id, i.kind, i.item_id, i.title, i.answers
        FROM chat_sessions s, chat_cited_items(m) i WHERE s.id = m.session_id
        ON CONFLICT (user_id, day, session_id, kind, item_id) DO UPDATE SET
            answers = c.answers + EXCLUDED.answers, title = GREATEST(c.title, EXCLUDED.title);
    ELSE
        -- Nothing to take from when the session (and so its rows) is being deleted.
        UPDATE chat_cited c SET answers = c.answers - i.answers
        FROM chat_cited_items(m) i
        WHERE c.session_id = m.session_id AND c.day = d AND c.kind = i.kind
          AND c.item_id = i.item_id;
        DELETE FROM chat_cited c WHERE c.session_id = m.session_id AND c.day = d AND c.answers <= 0;
    END IF;
END $$;

CREATE FUNCTION chat_cited_apply() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM chat_cited_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM chat_cited_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER chat_cited_apply
AFTER INSERT OR DELETE OR UPDATE OF session_id, role, status, context_used, created_at
ON chat_messages FOR EACH ROW EXECUTE FUNCTION chat_cited_apply();

INSERT INTO chat_cited
SELECT s.user_id, FLOOR(EXTRACT(EPOCH FROM m.created_at))::BIGINT / 86400, m.session_id,
       i.kind, i.item_id, MAX(i.title), SUM(i.answers)
FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id, chat_cited_items(m) i
WHERE m.role = 'assistant' AND m.status <> 'superseded'
GROUP BY 1, 2, 3, 4, 5;
