-- Full-text search over the user's messages and session titles: FTS5 tables kept in step
-- with their rows by triggers (external content: the text is stored once), porter stemming.
CREATE VIRTUAL TABLE chat_messages_fts USING fts5(
    content, content = 'chat_messages', content_rowid = 'rowid', tokenize = 'porter unicode61'
);
CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF content ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO chat_messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
INSERT INTO chat_messages_fts (chat_messages_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE chat_sessions_fts USING fts5(
    title, content = 'chat_sessions', content_rowid = 'rowid', tokenize = 'porter unicode61'
);
CREATE TRIGGER chat_sessions_fts_insert AFTER INSERT ON chat_sessions BEGIN
    INSERT INTO chat_sessions_fts (rowid, title) VALUES (new.rowid, new.title);
END;
CREATE TRIGGER chat_sessions_fts_delete AFTER DELETE ON chat_sessions BEGIN
    INSERT INTO chat_sessions_fts (chat_sessions_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
END;
CREATE TRIGGER chat_sessions_fts_update AFTER UPDATE OF title ON chat_sessions BEGIN
    INSERT INTO chat_sessions_fts (chat_sessions_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
    INSERT INTO chat_sessions_fts (rowid, title) VALUES (new.rowid, new.title);
END;
INSERT INTO chat_sessions_fts (chat_sessions_fts) VALUES ('rebuild');
