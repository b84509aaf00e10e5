-- The catalogue. Text is stored as typed. Prices are minor units within the
-- API's 32-bit Int; stock is bigint so that releasing a reservation can never
-- overflow, and its named CHECK is the last guard against overselling: the
-- saga's conditional decrement never takes stock below zero, and if code ever
-- tried, the statement would fail rather than sell what is not there.
-- (created_at, id) serves keyset paging in both directions.
CREATE TABLE products (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    price       bigint      NOT NULL,
    stock       bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_pkey PRIMARY KEY (id),
    CONSTRAINT products_name_length_check CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT products_description_length_check CHECK (char_length(description) <= 5000),
    CONSTRAINT products_price_check CHECK (price BETWEEN 1 AND 2147483647),
    CONSTRAINT products_stock_check CHECK (stock >= 0)
);

CREATE INDEX products_created_at_id_idx ON products (created_at, id);
