-- A service's own table, for the migrate_with test.
CREATE TABLE widgets (id bigint PRIMARY KEY);
