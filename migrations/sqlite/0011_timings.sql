-- Latency percentiles are exact, so they read every completed reply's timings in the range:
-- this covering index holds exactly those columns, so over months the read is a scan of
-- narrow index entries instead of a visit to each message row.
CREATE INDEX chat_messages_timings
    ON chat_messages (created_at, session_id, model_used, latency_ms, first_token_ms)
    WHERE role = 'assistant' AND status = 'complete';
