-- One canonical email per account (see syncchain_platform::identity): trimmed,
-- NFC, Rust's full lowercase. Uniqueness and every look-up use this column,
-- never lower(email), whose mapping (lower('İ') = 'i') differs from the one
-- the gateway's rate limits key on.
--
-- lower(email) is the canonical form of an ASCII address; rows with other
-- characters are recomputed by the service in Rust right after migrating
-- (users::db::migrate). The old index guaranteed lower(email) unique, so the
-- backfill cannot collide.
ALTER TABLE users ADD COLUMN email_canonical text;
UPDATE users SET email_canonical = lower(email);
ALTER TABLE users ALTER COLUMN email_canonical SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_email_canonical_key UNIQUE (email_canonical);
DROP INDEX users_email_lower_key;
