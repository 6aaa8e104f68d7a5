-- Brokers sharing this database cache providers, clients and connections
-- for a few seconds.  Every committed change to those tables is announced
-- on channel dromos_change as "table:id" (a TRUNCATE as "table:"), so
-- that every listening broker forgets its copy at once instead of serving
-- it until it expires.  Notifications are sent at commit and only then:
-- a rolled-back change announces nothing.
CREATE FUNCTION dromos_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('dromos_change', TG_TABLE_NAME || ':');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('dromos_change', TG_TABLE_NAME || ':' || OLD.id);
    ELSE
        PERFORM pg_notify('dromos_change', TG_TABLE_NAME || ':' || NEW.id);
        IF TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id THEN
            PERFORM pg_notify('dromos_change',
                TG_TABLE_NAME || ':' || OLD.id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER providers_change AFTER INSERT OR UPDATE OR DELETE
    ON providers FOR EACH ROW EXECUTE FUNCTION dromos_notify_change();
CREATE TRIGGER providers_truncate AFTER TRUNCATE
    ON providers FOR EACH STATEMENT EXECUTE FUNCTION dromos_notify_change();
CREATE TRIGGER clients_change AFTER INSERT OR UPDATE OR DELETE
    ON clients FOR EACH ROW EXECUTE FUNCTION dromos_notify_change();
CREATE TRIGGER clients_truncate AFTER TRUNCATE
    ON clients FOR EACH STATEMENT EXECUTE FUNCTION dromos_notify_change();
CREATE TRIGGER connections_change AFTER INSERT OR UPDATE OR DELETE
    ON connections FOR EACH ROW EXECUTE FUNCTION dromos_notify_change();
CREATE TRIGGER connections_truncate AFTER TRUNCATE
    ON connections FOR EACH STATEMENT EXECUTE FUNCTION dromos_notify_change();
