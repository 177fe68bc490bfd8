-- +goose Up
-- SQLite twin of postgres/00024_applications_routes.sql.
CREATE TABLE applications (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    sensitive    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

CREATE TABLE gateway_routes (
    host            TEXT NOT NULL,
    path_prefix     TEXT NOT NULL CHECK (path_prefix LIKE '/%'),
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (host, path_prefix)
);
CREATE INDEX gateway_routes_application_idx ON gateway_routes (application_id);

-- +goose Down
DROP TABLE gateway_routes;
DROP TABLE applications;
