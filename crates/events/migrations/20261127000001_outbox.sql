-- Events waiting to be published. Written in the same transaction as the
-- state change they describe; the relay deletes a row once JetStream has
-- acknowledged it. `seq` gives the publishing order. `json`, not `jsonb`:
-- the envelope is published exactly as it was serialized.
CREATE TABLE outbox (
    seq        bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT outbox_pkey PRIMARY KEY,
    event_id   uuid        NOT NULL CONSTRAINT outbox_event_id_key UNIQUE,
    event_type text        NOT NULL,
    envelope   json        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
