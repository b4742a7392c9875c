-- Every write to a user's operations data (tasks, delegations, their notes, daily digests)
-- moves that user's workspace version, in the same transaction, whatever code path wrote it.
-- A chat turn reads the version with the session it continues and reuses the operations data
-- it loaded last time for the same version and day (`chat::OpsCache`), so that a turn does not
-- read four tables again when nothing changed. The version lives in the database, so every
-- instance sharing it sees a change at once: there is no cache to invalidate across instances.
CREATE TABLE workspace_versions (
    user_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE FUNCTION opschat_workspace_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = workspace_versions.version + 1;
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.user_id IS DISTINCT FROM OLD.user_id) THEN
        INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = workspace_versions.version + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_workspace_bump AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION opschat_workspace_bump();
CREATE TRIGGER delegations_workspace_bump AFTER INSERT OR UPDATE OR DELETE ON delegations
    FOR EACH ROW EXECUTE FUNCTION opschat_workspace_bump();
CREATE TRIGGER delegation_notes_workspace_bump AFTER INSERT OR UPDATE OR DELETE ON delegation_notes
    FOR EACH ROW EXECUTE FUNCTION opschat_workspace_bump();
CREATE TRIGGER daily_digests_workspace_bump AFTER INSERT OR UPDATE OR DELETE ON daily_digests
    FOR EACH ROW EXECUTE FUNCTION opschat_workspace_bump();
