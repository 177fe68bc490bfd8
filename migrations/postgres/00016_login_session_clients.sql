-- +goose Up
-- The clients each login session was used with, so that "sessions of client X" is one
-- indexed query (the token tables would need a union of three scans, and forget a
-- client once its tokens are deleted). Written at the authorization endpoint.
CREATE TABLE login_session_clients (
    session_id  TEXT NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,              -- first use with this client
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX login_session_clients_client_idx ON login_session_clients (client_id, session_id);
-- The admin API searches sessions by IP.
CREATE INDEX login_sessions_ip_idx ON login_sessions (ip);

-- Sessions that already issued codes or tokens keep their clients.
INSERT INTO login_session_clients (session_id, client_id, created_at)
SELECT g.sid, g.client_id, MIN(g.requested_at)
FROM (
    SELECT sid, client_id, requested_at FROM oauth_authorization_codes WHERE sid IS NOT NULL
    UNION ALL
    SELECT sid, client_id, requested_at FROM oauth_access_tokens WHERE sid IS NOT NULL
    UNION ALL
    SELECT sid, client_id, requested_at FROM oauth_refresh_tokens WHERE sid IS NOT NULL
) g
JOIN login_sessions s ON s.id = g.sid
GROUP BY g.sid, g.client_id;

-- +goose Down
DROP INDEX login_sessions_ip_idx;
DROP TABLE login_session_clients;
