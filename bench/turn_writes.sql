-- pgbench script: only a chat turn's own writes, in one transaction, as the yardstick
-- bench/run.sh divides opschat's turns/s by. A session's counters move by two and the question
-- and the reply are inserted (the tables' triggers, indexes and full-text columns included).
-- The 64 sessions are the ones bench/run.sh created; :s picks one.
\set s random(0, 63)
BEGIN;
WITH s AS (
    UPDATE chat_sessions
       SET last_seq = last_seq + 2, message_count = message_count + 2, last_message_at = now()
     WHERE id = (SELECT id FROM chat_sessions ORDER BY id LIMIT 1 OFFSET :s)
 RETURNING id, user_id, last_seq
)
INSERT INTO chat_messages (id, session_id, seq, role, content, model_used, tokens_used, created_at)
SELECT gen_random_uuid(), s.id, s.last_seq - 1, 'user', 'What''s most urgent today?', NULL, 6, now() FROM s
UNION ALL
SELECT gen_random_uuid(), s.id, s.last_seq, 'assistant',
       'Most urgent today: **Fix walk-in cooler door gasket** (urgent, overdue since Nov 22, in progress, 45 min) and **Resolve Hannah''s payroll discrepancy** (urgent, due today, 30 min). Then **Submit manager schedule for next week** (high, due today, 60 min). Follow up with Marcus Lee on the Sunday inventory count today.',
       'opschat-local', 95, now() FROM s;
COMMIT;
