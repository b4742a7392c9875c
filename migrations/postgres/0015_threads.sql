-- The OpenAI-compatible endpoint (/v1/chat/completions) receives a whole conversation with
-- every request. A session it stores remembers the conversation as of its last answer: a
-- digest of every message's role and words (`http::openai::thread_key`) and how many messages
-- the session held then. A request whose earlier messages have that digest, on a session that
-- has not changed since, continues it; anything else starts a new session.
ALTER TABLE chat_sessions ADD COLUMN thread_key TEXT;
ALTER TABLE chat_sessions ADD COLUMN thread_messages INTEGER;
CREATE INDEX chat_sessions_threads ON chat_sessions (user_id, thread_key)
    WHERE thread_key IS NOT NULL;
