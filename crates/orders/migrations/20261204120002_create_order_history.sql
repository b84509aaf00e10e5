-- Each status an order went through, when, and why, written by the same
-- statement that makes the change. The state machine never returns to a
-- status, so (order, status) is unique. Orders placed before this table
-- existed get what is known of them: when they were placed and, if they
-- have moved on, their status now (an order cancelled before this
-- migration has no CONFIRMED entry).
CREATE TABLE order_history (
    order_id uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status   text        NOT NULL,
    reason   text,
    at       timestamptz NOT NULL,
    PRIMARY KEY (order_id, status)
);

INSERT INTO order_history (order_id, status, reason, at)
SELECT id, 'PENDING', 'placed', created_at FROM orders;

INSERT INTO order_history (order_id, status, reason, at)
SELECT id, status, rejection_reason, updated_at FROM orders WHERE status <> 'PENDING';
