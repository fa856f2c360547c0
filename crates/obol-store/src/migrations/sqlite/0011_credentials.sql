-- Replaceable credentials (SPEC §2): a Softline refresh token is used once without revoking
-- the access token issued with it; a merchant's bearer tokens are revoked together when its
-- api_secret is rotated; a manager is disabled, and counts its tokens so that a dashboard
-- session ends when the token it was made with is rotated.

ALTER TABLE bearer_tokens ADD COLUMN refresh_used_at INTEGER;
CREATE INDEX bearer_tokens_merchant ON bearer_tokens (merchant_id);

-- Nothing ever set managers.revoked_at: it becomes what it always meant, the time the
-- manager was disabled.
ALTER TABLE managers RENAME COLUMN revoked_at TO disabled_at;
ALTER TABLE managers ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 1;
