-- The sweep that announces stale PENDING orders again (resend.rs) looks for
-- PENDING orders by age every few seconds; PENDING orders are few, so a
-- partial index keeps that cheap however many settled orders there are.
CREATE INDEX orders_pending_updated_at_idx ON orders (updated_at) WHERE status = 'PENDING';
