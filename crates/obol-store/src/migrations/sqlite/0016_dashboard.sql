-- The dashboard's sessions (SPEC §7): the cookie carries only a random id; the database keeps
-- its SHA-256 digest, the manager, the token generation it was signed in with (a rotation or
-- disabling ends it at once) and when it was last used (12 hours idle end it).

CREATE TABLE dashboard_sessions (
    id_digest        TEXT PRIMARY KEY,
    manager_id       INTEGER NOT NULL REFERENCES managers (id),
    token_generation INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    ip               TEXT
);
CREATE INDEX dashboard_sessions_manager ON dashboard_sessions (manager_id);
CREATE INDEX dashboard_sessions_seen ON dashboard_sessions (last_seen_at);
