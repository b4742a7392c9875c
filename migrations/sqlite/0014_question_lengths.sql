-- Common questions read short keys (up to 8 words: `analytics::questions::MAX_WORDS`, which may
-- merge by similarity) and long ones (statements, which group only with themselves and of
-- which only the most asked are listed) in two statements, each from its own partial index.
-- One index of every question made each range count words in every key read (a third of the
-- time) and group the long keys, nearly all asked once, together with the short ones.
-- The word-count predicates must stay as written: a query uses these indexes only when its
-- WHERE repeats them (`store::analytics::SHORT_KEY`, `LONG_KEY`). The wordings of a group are
-- read newest first through `chat_messages_created`.
DROP INDEX chat_messages_questions;
CREATE INDEX chat_messages_short_questions ON chat_messages (created_at, session_id, question_key)
    WHERE role = 'user' AND question_key <> ''
      AND length(question_key) - length(replace(question_key, ' ', '')) < 8;
CREATE INDEX chat_messages_long_questions ON chat_messages (created_at, session_id, question_key)
    WHERE role = 'user' AND length(question_key) - length(replace(question_key, ' ', '')) >= 8;
