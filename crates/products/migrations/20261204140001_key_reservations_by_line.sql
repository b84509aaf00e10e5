-- An order may reserve several products: one reservation row per line,
-- keyed by (order, product), so a line still reserves at most once
-- whatever is redelivered and is released exactly once. Existing rows
-- (one per order) already satisfy the wider key.
ALTER TABLE reservations DROP CONSTRAINT reservations_pkey;
ALTER TABLE reservations ADD CONSTRAINT reservations_pkey PRIMARY KEY (order_id, product_id);
