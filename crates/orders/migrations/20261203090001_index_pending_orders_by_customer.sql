-- Placing an order counts the customer's PENDING orders (the cap on orders
-- in flight, ordering.rs); PENDING orders are few, so a partial index keeps
-- that count small however many orders a customer has placed.
CREATE INDEX orders_pending_user_id_idx ON orders (user_id) WHERE status = 'PENDING';
