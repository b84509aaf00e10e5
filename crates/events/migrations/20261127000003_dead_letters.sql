-- Messages a consumer gave up on, kept byte for byte with the reason, so a
-- person can inspect and replay them; the consumer carries on meanwhile.
CREATE TABLE dead_letters (
    id         bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT dead_letters_pkey PRIMARY KEY,
    consumer   text        NOT NULL,
    subject    text        NOT NULL,
    event_id   uuid,
    payload    bytea       NOT NULL,
    reason     text        NOT NULL,
    deliveries bigint      NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_consumer_parked_at_idx ON dead_letters (consumer, parked_at);
