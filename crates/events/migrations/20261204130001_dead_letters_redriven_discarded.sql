-- What a person did with a parked message: published it again for its
-- consumer (once), or set it aside. Either ends it being held; the row and
-- its bytes stay on record.
ALTER TABLE dead_letters
    ADD COLUMN redriven_at  timestamptz,
    ADD COLUMN discarded_at timestamptz;

CREATE INDEX dead_letters_held_idx ON dead_letters (id)
    WHERE redriven_at IS NULL AND discarded_at IS NULL;
