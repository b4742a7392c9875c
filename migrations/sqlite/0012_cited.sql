-- The items answers drew on, counted without reading every reply's `context_used`: per user,
-- UTC day, session and item, how many answers (all but regenerated ones) listed it in
-- `items_used`, with the greatest title seen. Kept exact by the triggers below on every
-- insert, change and delete of a message (a deleted session takes its rows with it). A range
-- reads its whole UTC days here and its partial days at either end from the messages.
CREATE TABLE chat_cited (
    user_id    TEXT NOT NULL,
    day        INTEGER NOT NULL,
    session_id TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    answers    INTEGER NOT NULL,
    PRIMARY KEY (user_id, day, session_id, kind, item_id)
) WITHOUT ROWID;
CREATE INDEX chat_cited_session ON chat_cited (session_id, day);
CREATE INDEX chat_cited_day ON chat_cited (day);

-- The items of a message's `items_used` that count (objects with a kind and a 36-character id)
-- are chosen by the same expressions in each statement: SQLite has no SQL functions to share.
INSERT INTO chat_cited
SELECT s.user_id, unixepoch(m.created_at) / 86400, m.session_id, json_extract(e.value, '$.kind'),
       json_extract(e.value, '$.id'), MAX(COALESCE(json_extract(e.value, '$.title'), '')), COUNT(*)
FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id,
     json_each(CASE WHEN json_type(m.context_used, '$.items_used') = 'array'
         THEN json_extract(m.context_used, '$.items_used') ELSE '[]' END) AS e
WHERE m.role = 'assistant' AND m.status <> 'superseded' AND e.type = 'object'
  AND json_extract(e.value, '$.kind') IS NOT NULL AND length(json_extract(e.value, '$.id')) = 36
GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER chat_cited_insert AFTER INSERT ON chat_messages
WHEN NEW.role = 'assistant' AND NEW.status <> 'superseded' BEGIN
    INSERT INTO chat_cited
    SELECT s.user_id, unixepoch(NEW.created_at) / 86400, NEW.session_id,
           json_extract(e.value, '$.kind'), json_extract(e.value, '$.id'),
           MAX(COALESCE(json_extract(e.value, '$.title'), '')), COUNT(*)
    FROM chat_sessions s,
         json_each(CASE WHEN json_type(NEW.context_used, '$.items_used') = 'array'
             THEN json_extract(NEW.context_used, '$.items_used') ELSE '[]' END) AS e
    WHERE s.id = NEW.session_id AND e.type = 'object'
      AND json_extract(e.value, '$.kind') IS NOT NULL AND length(json_extract(e.value, '$.id')) = 36
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (user_id, day, session_id, kind, item_id) DO UPDATE SET
        answers = answers + excluded.answers, title = max(title, excluded.title);
END;

-- Takes away what the old message counted, drops emptied rows, then counts the new one.
CREATE TRIGGER chat_cited_update AFTER UPDATE OF session_id, role, status, context_used, created_at
ON chat_messages BEGIN
    UPDATE chat_cited SET answers = answers - (
        SELECT COUNT(*) FROM json_each(CASE WHEN json_type(OLD.context_used, '$.items_used') = 'array'
            THEN json_extract(OLD.context_used, '$.items_used') ELSE '[]' END) AS e
        WHERE e.type = 'object' AND json_extract(e.value, '$.kind') = chat_cited.kind
          AND json_extract(e.value, '$.id') = chat_cited.item_id)
    WHERE session_id = OLD.session_id AND day = unixepoch(OLD.created_at) / 86400
      AND OLD.role = 'assistant' AND OLD.status <> 'superseded';
    DELETE FROM chat_cited
    WHERE session_id = OLD.session_id AND day = unixepoch(OLD.created_at) / 86400 AND answers <= 0;
    INSERT INTO chat_cited
    SELECT s.user_id, unixepoch(NEW.created_at) / 86400, NEW.session_id,
           json_extract(e.value, '$.kind'), json_extract(e.value, '$.id'),
           MAX(COALESCE(json_extract(e.value, '$.title'), '')), COUNT(*)
    FROM chat_sessions s,
         json_each(CASE WHEN json_type(NEW.context_used, '$.items_used') = 'array'
             THEN json_extract(NEW.context_used, '$.items_used') ELSE '[]' END) AS e
    WHERE s.id = NEW.session_id AND NEW.role = 'assistant' AND NEW.status <> 'superseded'
      AND e.type = 'object' AND json_extract(e.value, '$.kind') IS NOT NULL
      AND length(json_extract(e.value, '$.id')) = 36
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (user_id, day, session_id, kind, item_id) DO UPDATE SET
        answers = answers + excluded.answers, title = max(title, excluded.title);
END;

CREATE TRIGGER chat_cited_delete AFTER DELETE ON chat_messages
WHEN OLD.role = 'assistant' AND OLD.status <> 'superseded' BEGIN
    UPDATE chat_cited SET answers = answers - (
        SELECT COUNT(*) FROM json_each(CASE WHEN json_type(OLD.context_used, '$.items_used') = 'array'
            THEN json_extract(OLD.context_used, '$.items_used') ELSE '[]' END) AS e
        WHERE e.type = 'object' AND json_extract(e.value, '$.kind') = chat_cited.kind
          AND json_extract(e.value, '$.id') = chat_cited.item_id)
    WHERE session_id = OLD.session_id AND day = unixepoch(OLD.created_at) / 86400;
    DELETE FROM chat_cited
    WHERE session_id = OLD.session_id AND day = unixepoch(OLD.created_at) / 86400 AND answers <= 0;
END;
