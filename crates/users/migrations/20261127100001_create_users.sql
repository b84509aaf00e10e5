-- Accounts. Text is stored as typed; email uniqueness is case-insensitive
-- through the unique index on lower(email), whose name the storage module
-- maps to a conflict. (created_at, id) serves keyset paging.
CREATE TABLE users (
    id             uuid        NOT NULL,
    email          text        NOT NULL,
    password_hash  text        NOT NULL,
    first_name     text        NOT NULL,
    last_name      text        NOT NULL,
    location       text        NOT NULL,
    contact_number text        NOT NULL,
    role           text        NOT NULL DEFAULT 'CUSTOMER',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_role_check CHECK (role IN ('CUSTOMER', 'ADMIN')),
    CONSTRAINT users_email_length_check CHECK (char_length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_first_name_length_check CHECK (char_length(first_name) BETWEEN 1 AND 100),
    CONSTRAINT users_last_name_length_check CHECK (char_length(last_name) BETWEEN 1 AND 100),
    CONSTRAINT users_location_length_check CHECK (char_length(location) BETWEEN 1 AND 200),
    CONSTRAINT users_contact_number_format_check CHECK (contact_number ~ '^\+?[0-9]{7,15}$')
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
