-- Stock set aside for an order, one row per order (the primary key), so an
-- order reserves at most once whatever is redelivered, and a cancellation
-- releases exactly what was reserved, once (RESERVED -> RELEASED).
CREATE TABLE reservations (
    order_id   uuid        NOT NULL,
    product_id uuid        NOT NULL,
    quantity   bigint      NOT NULL,
    status     text        NOT NULL DEFAULT 'RESERVED',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservations_pkey PRIMARY KEY (order_id),
    CONSTRAINT reservations_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT reservations_quantity_check CHECK (quantity > 0),
    CONSTRAINT reservations_status_check CHECK (status IN ('RESERVED', 'RELEASED'))
);

CREATE INDEX reservations_product_id_idx ON reservations (product_id);
