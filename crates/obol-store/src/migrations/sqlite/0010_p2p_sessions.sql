-- P2P credentials at rest (SQLite): a client's `clientId` and a session's id are kept only as
-- SHA-256 digests (lower-case hex), since for a client that does not sign they are its only
-- credential. Sessions may act for one end user of the client (`userId`), and cards belong to
-- that user. Hosted card-form links and spent signed-request tokens are kept by digest too.

-- The clear `clientId`s become digests right after this script, in the same transaction
-- (SQLite has no SHA-256 in SQL: see `digest_client_keys` in `ops/p2p.rs`). Renaming keeps
-- the unique key and the foreign keys that point at the clients.
ALTER TABLE p2p_clients RENAME COLUMN client_key TO client_key_digest;

-- Sessions last an hour and were kept under their clear ids: they are dropped, and their
-- holders open new ones.
DROP TABLE p2p_sessions;
CREATE TABLE p2p_sessions (
    id_digest  TEXT PRIMARY KEY,
    client_id  INTEGER NOT NULL REFERENCES p2p_clients (id),
    user_id    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX p2p_sessions_expiry ON p2p_sessions (expires_at);

ALTER TABLE p2p_cards ADD COLUMN user_id TEXT;
CREATE INDEX p2p_cards_user ON p2p_cards (client_id, user_id, seq);

-- A hosted card-form link: good for one card, for 15 minutes, carrying no session.
CREATE TABLE p2p_card_forms (
    token_digest TEXT PRIMARY KEY,
    client_id    INTEGER NOT NULL REFERENCES p2p_clients (id),
    user_id      TEXT,
    card_id      TEXT REFERENCES p2p_cards (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE INDEX p2p_card_forms_expiry ON p2p_card_forms (expires_at);

-- Signed requests accepted, kept while they could still be accepted: a token is taken once.
CREATE TABLE p2p_used_tokens (
    token_digest TEXT PRIMARY KEY,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX p2p_used_tokens_expiry ON p2p_used_tokens (expires_at);
