-- 001_init: the broker's first schema (DESIGN §6).
--
-- Applied by unpriv/migrate.c inside one transaction, under an advisory
-- lock, and recorded in schema_migrations.  A migration is never edited
-- once released: change the schema with a new NNN_name.sql.
--
-- Every sealed column holds a value in the keyholder's format (DESIGN §4:
-- "DRM", format, key version, nonce, ciphertext, tag); the checks below
-- refuse anything else, so a bug can never store a plaintext there.
-- Identifiers are checked here as well as in the broker: the database is
-- the last line, not the only one.

-- Renders a time the way the HTTP API shows it: RFC 3339, UTC, seconds.
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
    LANGUAGE sql STABLE STRICT
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

-- The keyring, sealed under the root key: one row, shared by every broker
-- of this database.  generation counts writes, so that a broker never
-- overwrites a keyring another broker stored after it read its own.
CREATE TABLE keyring (
    id          smallint PRIMARY KEY CHECK (id = 1),
    blob        bytea NOT NULL CHECK (octet_length(blob) BETWEEN 1 AND 14336),
    generation  bigint NOT NULL DEFAULT 1 CHECK (generation > 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The provider registry (DESIGN §9).  config is the provider document
-- without client_secret, which is sealed on its own (purpose
-- client_secret, row = id, column client_secret).
CREATE TABLE providers (
    id             text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,64}$'),
    auth_mode      text NOT NULL CHECK (auth_mode ~ '^[a-z0-9_]{1,32}$'),
    config         jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'
                       AND config->>'id' = id
                       AND NOT (config ? 'client_secret')),
    client_secret  bytea CHECK (substring(client_secret FROM 1 FOR 3) =
                       '\x44524d'::bytea),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- API clients.  id is the public part of a token, used to look the
-- client up; only SHA-256 of the whole token is kept.
CREATE TABLE clients (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    token_hash  bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Connections: a provider's credentials for one owner.  secrets is sealed
-- (purpose credential, row = id, column secrets) under key_version;
-- metadata holds only the captured values that are not secret.
CREATE TABLE connections (
    id                text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,128}$'),
    provider          text NOT NULL REFERENCES providers (id)
                          ON DELETE RESTRICT,
    owner             text NOT NULL CHECK (length(owner) BETWEEN 1 AND 256),
    status            text NOT NULL DEFAULT 'active'
                          CHECK (status ~ '^[a-z_]{1,32}$'),
    metadata          jsonb NOT NULL DEFAULT '{}'
                          CHECK (jsonb_typeof(metadata) = 'object'),
    secrets           bytea CHECK (substring(secrets FROM 1 FOR 3) =
                          '\x44524d'::bytea),
    key_version       integer CHECK (key_version > 0),
    expires_at        timestamptz,
    refresh_attempts  integer NOT NULL DEFAULT 0
                          CHECK (refresh_attempts >= 0),
    last_error        text,
    last_refresh_at   timestamptz,
    needs_reauth      boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((secrets IS NULL) = (key_version IS NULL))
);
-- Deleting a provider looks for its connections; listings go by owner.
CREATE INDEX connections_provider ON connections (provider);
CREATE INDEX connections_owner ON connections (owner);

-- OAuth authorisations in flight (step 4).  The state is kept only as a
-- hash; the PKCE verifier is sealed (purpose pkce, row = hex of
-- state_hash, column verifier).
CREATE TABLE oauth_sessions (
    state_hash       bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    provider         text NOT NULL REFERENCES providers (id)
                         ON DELETE CASCADE,
    connection       text CHECK (connection ~ '^[A-Za-z0-9._-]{1,128}$'),
    connect_session  text,
    verifier         bytea NOT NULL CHECK (substring(verifier FROM 1 FOR 3) =
                         '\x44524d'::bytea),
    issuer           text,
    redirect_uri     text NOT NULL,
    return_url       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz
);
CREATE INDEX oauth_sessions_expires ON oauth_sessions (expires_at);

-- Connect sessions a client opens for an end user's browser (step 4).
CREATE TABLE connect_sessions (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    client      text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    owner       text NOT NULL CHECK (length(owner) BETWEEN 1 AND 256),
    providers   text[],
    connection  text CHECK (connection ~ '^[A-Za-z0-9._-]{1,128}$'),
    return_url  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX connect_sessions_expires ON connect_sessions (expires_at);

-- Who fetched or changed what, and how it went.  Not a foreign key to
-- connections or clients: the log outlives what it names.
CREATE TABLE access_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    client      text,
    connection  text,
    operation   text NOT NULL,
    outcome     text NOT NULL,
    request_id  text
);
CREATE INDEX access_log_connection_at ON access_log (connection, at);
CREATE INDEX access_log_at ON access_log (at);
