-- A second factor (TOTP, RFC 6238) per user, and one-time recovery codes.
-- The TOTP secret is sealed by the vault's key ("key_id:nonce:ciphertext");
-- recovery codes are stored as their SHA-256. Keep in step with ../sqlite/.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
-- The last time step accepted: a code works once.
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   BIGINT,
    UNIQUE (user_id, code_hash)
);
