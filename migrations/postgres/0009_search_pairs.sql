-- Quoted phrases on PostgreSQL. The GIN index over `search` knows which messages hold each
-- word but not where, so a phrase of two common words ("cooler door") made PostgreSQL fetch
-- and recheck every message holding both words (tens of thousands in a long history) to find
-- the few where they stand side by side. `search_pairs` indexes each pair of neighbouring
-- words as one lexeme ('cooler door'), so a phrase first narrows to the messages holding its
-- pairs; the exact phrase match on `search` then runs on those alone.

-- The neighbouring lexeme pairs of a text, as the english configuration sees it (stop words
-- leave gaps, so "door of the cooler" holds no pair, and its phrase asks for none).
CREATE FUNCTION opschat_pairs(doc text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH w AS (
        SELECT t.lexeme, p::int AS pos
        FROM unnest(pg_catalog.to_tsvector('english'::regconfig, doc)) AS t, unnest(t.positions) AS p
    )
    SELECT coalesce(pg_catalog.array_to_tsvector(array_agg(DISTINCT a.lexeme || ' ' || b.lexeme)), ''::tsvector)
    FROM w a JOIN w b ON b.pos = a.pos + 1
$$;

-- What a phrase asks of `search_pairs`: all of its pairs, or NULL when it has none (one word,
-- or words apart), in which case the caller asks nothing of it. The words come from the
-- search parser, letters and digits only, so the lexemes need no escaping.
CREATE FUNCTION opschat_pairs_query(phrase text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT pg_catalog.string_agg('''' || l || '''', ' & ')::tsquery
    FROM unnest(pg_catalog.tsvector_to_array(opschat_pairs(phrase))) AS l
$$;

ALTER TABLE chat_messages
    ADD COLUMN search_pairs tsvector GENERATED ALWAYS AS (opschat_pairs(content)) STORED;
CREATE INDEX chat_messages_search_pairs ON chat_messages USING GIN (search_pairs);
