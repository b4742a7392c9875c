-- Every write to a user's operations data (tasks, delegations, their notes, daily digests)
-- moves that user's workspace version, in the same transaction, whatever code path wrote it.
-- A chat turn reads the version with the session it continues and reuses the operations data
-- it loaded last time for the same version and day (`chat::OpsCache`), so that a turn does not
-- read four tables again when nothing changed.
CREATE TABLE workspace_versions (
    user_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);

CREATE TRIGGER tasks_workspace_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER tasks_workspace_update AFTER UPDATE ON tasks BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER tasks_workspace_move AFTER UPDATE OF user_id ON tasks
    WHEN NEW.user_id IS NOT OLD.user_id BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER tasks_workspace_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegations_workspace_insert AFTER INSERT ON delegations BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegations_workspace_update AFTER UPDATE ON delegations BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegations_workspace_move AFTER UPDATE OF user_id ON delegations
    WHEN NEW.user_id IS NOT OLD.user_id BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegations_workspace_delete AFTER DELETE ON delegations BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegation_notes_workspace_insert AFTER INSERT ON delegation_notes BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegation_notes_workspace_update AFTER UPDATE ON delegation_notes BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegation_notes_workspace_move AFTER UPDATE OF user_id ON delegation_notes
    WHEN NEW.user_id IS NOT OLD.user_id BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER delegation_notes_workspace_delete AFTER DELETE ON delegation_notes BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER daily_digests_workspace_insert AFTER INSERT ON daily_digests BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER daily_digests_workspace_update AFTER UPDATE ON daily_digests BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER daily_digests_workspace_move AFTER UPDATE OF user_id ON daily_digests
    WHEN NEW.user_id IS NOT OLD.user_id BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER daily_digests_workspace_delete AFTER DELETE ON daily_digests BEGIN
    INSERT INTO workspace_versions (user_id, version) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
