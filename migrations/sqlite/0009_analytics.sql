-- Analytics reads the replies and questions of a date range: without this index SQLite scans
-- every message for any range (PostgreSQL has had it since 0007, for search).
CREATE INDEX chat_messages_created ON chat_messages (created_at);
