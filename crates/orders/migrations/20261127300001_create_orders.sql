-- Orders. The unit price is copied from products at placement, so an order
-- keeps the price it was placed at; total_amount is its product, bounded by
-- the API's 32-bit Int. The status only changes through the state machine in
-- domain/status.rs, with `WHERE status = <expected>`; the CHECKs are the last
-- line of defence. Listing is newest first: per customer through
-- orders_user_id_created_at_id_idx, for admins through orders_created_at_id_idx.
CREATE TABLE orders (
    id               uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    product_id       uuid        NOT NULL,
    quantity         bigint      NOT NULL,
    unit_price       bigint      NOT NULL,
    total_amount     bigint      NOT NULL,
    status           text        NOT NULL DEFAULT 'PENDING',
    rejection_reason text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_pkey PRIMARY KEY (id),
    CONSTRAINT orders_status_check
        CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED')),
    CONSTRAINT orders_quantity_check CHECK (quantity BETWEEN 1 AND 1000000),
    CONSTRAINT orders_unit_price_check CHECK (unit_price >= 1),
    CONSTRAINT orders_total_amount_check
        CHECK (total_amount = unit_price * quantity AND total_amount <= 2147483647),
    CONSTRAINT orders_rejection_reason_check
        CHECK ((status = 'REJECTED') = (rejection_reason IS NOT NULL))
);

CREATE INDEX orders_user_id_created_at_id_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_created_at_id_idx ON orders (created_at DESC, id DESC);
