-- Idempotency keys of placeOrder: a customer placing again with a key they
-- used before gets the order the first placement made. `request` is the
-- placement's canonical form, so the same key with another request is told
-- apart; rows older than SYNCCHAIN_ORDER_IDEMPOTENCY_KEYS_KEPT are purged
-- (and ignored until they are).
CREATE TABLE placement_keys (
    user_id    uuid        NOT NULL,
    key        text        NOT NULL,
    request    text        NOT NULL,
    order_id   uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE INDEX placement_keys_by_age ON placement_keys (created_at);
