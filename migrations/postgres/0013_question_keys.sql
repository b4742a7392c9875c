-- Common questions are grouped by each question's normalised content words
-- (`analytics::questions::key`). opschat computes that key once per question, when it writes
-- the question (a chat turn, a restore), and stores it here as the words joined by spaces
-- ('' for none), so a range is grouped by reading short keys instead of normalising every
-- text again. NULL means not computed yet: questions from before this migration, keyed at
-- start-up (or by the first analytics request that meets them). A change to the normaliser
-- must come with a migration that sets every key back to NULL.
ALTER TABLE chat_messages ADD COLUMN question_key TEXT;
CREATE INDEX chat_messages_questions ON chat_messages (created_at)
    INCLUDE (session_id, question_key) WHERE role = 'user';
CREATE INDEX chat_messages_unkeyed ON chat_messages (created_at)
    WHERE role = 'user' AND question_key IS NULL;
