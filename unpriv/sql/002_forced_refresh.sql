-- Forced refreshes are limited per connection across every broker: the
-- time of the last one lives with the connection.
ALTER TABLE connections ADD COLUMN last_forced_refresh_at timestamptz;
