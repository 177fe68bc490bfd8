-- +goose Up
-- Applications (the entitlements domain: what people get access to) and the gateway
-- routes that lead to them (the access edge: host and path prefix -> application), as
-- forward-auth decides per request. An application's id is chosen by its administrator
-- (it names the application in fabric files and, as "application:<id>", in policies).
-- Hosts are stored lower-cased without a port; a route is unique by host and prefix, and
-- goes with its application.
CREATE TABLE applications (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    sensitive    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE gateway_routes (
    host            TEXT NOT NULL,
    path_prefix     TEXT NOT NULL CHECK (path_prefix LIKE '/%'),
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (host, path_prefix)
);
CREATE INDEX gateway_routes_application_idx ON gateway_routes (application_id);

-- +goose Down
DROP TABLE gateway_routes;
DROP TABLE applications;
