-- Full-text search over the user's messages and session titles (English stemming).
ALTER TABLE chat_messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED;
CREATE INDEX chat_messages_search ON chat_messages USING GIN (search);
CREATE INDEX chat_sessions_title_search ON chat_sessions USING GIN (to_tsvector('english', title));
