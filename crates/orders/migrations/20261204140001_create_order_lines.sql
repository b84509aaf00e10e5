-- The lines of an order of more than one line, in the order the customer
-- gave them (ADR 0018). An order of one line keeps it in its own columns
-- (product_id, quantity, unit_price), as every order did before; those
-- columns also hold the first line of a longer order, so a reader that
-- knows one line only (the predecessor's fields, orders.placed version 1)
-- sees the first. Lines never change once placed.
CREATE TABLE order_lines (
    order_id   uuid     NOT NULL,
    position   smallint NOT NULL,
    product_id uuid     NOT NULL,
    quantity   bigint   NOT NULL,
    unit_price bigint   NOT NULL,
    CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, position),
    CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT order_lines_product_once UNIQUE (order_id, product_id),
    CONSTRAINT order_lines_position_check CHECK (position >= 1),
    CONSTRAINT order_lines_quantity_check CHECK (quantity > 0),
    CONSTRAINT order_lines_unit_price_check CHECK (unit_price > 0)
);

-- The total is every line's sum, so at least the first line's (in the
-- order's own columns) and still within the API's Int.
ALTER TABLE orders DROP CONSTRAINT orders_total_amount_check;
ALTER TABLE orders ADD CONSTRAINT orders_total_amount_check
    CHECK (total_amount >= unit_price * quantity AND total_amount <= 2147483647);
