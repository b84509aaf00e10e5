-- Finds the records old enough to delete (see `processed::clean_up`)
-- without scanning the whole table.
CREATE INDEX processed_events_consumer_processed_at_idx
    ON processed_events (consumer, processed_at);
