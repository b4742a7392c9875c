-- pgbench script: only a chat turn's own writes, in one transaction, as the yardstick
-- bench/run.sh divides opschat's turns/s by. A session's counters move by two and the question
-- and the reply are inserted (the tables' triggers, indexes and full-text columns included).
-- The two rows are copies of a real question and reply opschat stored during the run, one of
-- the pairs for each question the load asks (table bench_turn, made by bench/run.sh; :p picks
-- one, :pairs is how many): the same text, context_used (the items the answer drew on, which
-- the analytics triggers expand), token counts and timings; the reply points at its question.
-- The 64 sessions are the ones bench/run.sh created; :s picks one.
\set s random(0, 63)
\set p random(1, :pairs)
BEGIN;
WITH s AS (
    UPDATE chat_sessions
       SET last_seq = last_seq + 2, message_count = message_count + 2, last_message_at = now()
     WHERE id = (SELECT id FROM chat_sessions ORDER BY id LIMIT 1 OFFSET :s)
 RETURNING id, last_seq
), q AS (
    INSERT INTO chat_messages (id, session_id, seq, role, content, context_used, model_used,
                               tokens_used, prompt_tokens, completion_tokens, status, created_at,
                               provider, latency_ms, first_token_ms, cached_tokens, cost_usd,
                               question_key)
    SELECT gen_random_uuid(), s.id, s.last_seq - 1, t.role, t.content, t.context_used,
           t.model_used, t.tokens_used, t.prompt_tokens, t.completion_tokens, t.status, now(),
           t.provider, t.latency_ms, t.first_token_ms, t.cached_tokens, t.cost_usd, t.question_key
      FROM s, bench_turn t WHERE t.p = :p AND t.n = 1
 RETURNING id, session_id, seq
)
INSERT INTO chat_messages (id, session_id, seq, role, content, context_used, model_used,
                           tokens_used, prompt_tokens, completion_tokens, status, reply_to,
                           created_at, provider, latency_ms, first_token_ms, cached_tokens,
                           cost_usd, question_key)
SELECT gen_random_uuid(), q.session_id, q.seq + 1, t.role, t.content, t.context_used,
       t.model_used, t.tokens_used, t.prompt_tokens, t.completion_tokens, t.status, q.id, now(),
       t.provider, t.latency_ms, t.first_token_ms, t.cached_tokens, t.cost_usd, t.question_key
  FROM q, bench_turn t WHERE t.p = :p AND t.n = 2;
COMMIT;
