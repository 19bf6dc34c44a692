-- When each service token was last used (microseconds; 0: never), updated
-- at most once a minute per token, so operators can see which tokens are
-- live before revoking one.
ALTER TABLE service_tokens ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;
