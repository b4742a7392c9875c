-- What analytics needs of each reply and the original did not keep: which provider answered,
-- how long it took in all and to its first token, the prompt tokens served from the provider's
-- cache, and the cost estimated with the prices of the day (a later price change does not
-- rewrite it). NULL on rows written before this migration and on questions.
ALTER TABLE chat_messages ADD COLUMN provider TEXT;
ALTER TABLE chat_messages ADD COLUMN latency_ms INTEGER;
ALTER TABLE chat_messages ADD COLUMN first_token_ms INTEGER;
ALTER TABLE chat_messages ADD COLUMN cached_tokens INTEGER;
ALTER TABLE chat_messages ADD COLUMN cost_usd REAL;
