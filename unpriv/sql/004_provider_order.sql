-- Provider documents are kept as written: json, not jsonb, which would
-- reorder object keys.  The order of a schema's properties is the order
-- in which a connect-page form asks for them.  (Documents stored before
-- this migration keep the order jsonb gave them; update them to restore
-- theirs.)  The jsonb checks on the column go first: found by what they
-- check, since 001 left them unnamed.
DO $$
DECLARE
    c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
        WHERE conrelid = 'providers'::regclass AND contype = 'c'
        AND pg_get_constraintdef(oid) LIKE '%config%'
    LOOP
        EXECUTE format('ALTER TABLE providers DROP CONSTRAINT %I', c);
    END LOOP;
END
$$;
ALTER TABLE providers ALTER COLUMN config TYPE json USING config::json;
ALTER TABLE providers ADD CONSTRAINT providers_config_check
    CHECK (json_typeof(config) = 'object'
           AND config->>'id' = id
           AND config->'client_secret' IS NULL);
