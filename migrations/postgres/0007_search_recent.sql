-- Search ranks the newest matches of a common word: walking messages newest first finds them
-- without visiting every match.
CREATE INDEX chat_messages_created ON chat_messages (created_at);
