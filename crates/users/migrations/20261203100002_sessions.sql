-- Session state that must outlive Redis, which the gateway only uses as a
-- fast path: revoked tokens (kept until the token would have expired, then
-- pruned) and, per user, the instant before which their tokens no longer
-- count (set with every role change, in the same transaction).
CREATE TABLE revoked_tokens (
    token_id   uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT revoked_tokens_pkey PRIMARY KEY (token_id)
);

CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

CREATE TABLE session_cutoffs (
    user_id     uuid        NOT NULL,
    valid_after timestamptz NOT NULL,
    CONSTRAINT session_cutoffs_pkey PRIMARY KEY (user_id),
    CONSTRAINT session_cutoffs_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX session_cutoffs_valid_after_idx ON session_cutoffs (valid_after);
