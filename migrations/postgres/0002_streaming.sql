-- Streaming replies: a reply row exists while it streams; its heartbeat tells a live stream
-- from one whose instance died (those are marked interrupted).
ALTER TABLE chat_messages ADD COLUMN heartbeat_at TIMESTAMPTZ;
CREATE INDEX chat_messages_streaming ON chat_messages (session_id) WHERE status = 'streaming';
