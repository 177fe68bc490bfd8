-- +goose Up
-- SSF streams, issue 9 (L5, L7).
--
-- authorization_sealed: the push Authorization header, encrypted with a key derived
-- from the key-encryption key (keys.SecretBox: AES-256-GCM, nonce first, bound to the
-- stream id). SQL cannot encrypt (the key is not in the database), so the clear column
-- authorization_header stays for rows written before this migration: the server seals
-- each such value at start-up and empties the clear column; until then a delivery
-- reads the clear value. New and updated headers are only ever written sealed.
ALTER TABLE ssf_streams ADD COLUMN authorization_sealed BYTEA;

-- default_subjects: ALL sends a stream every subject's events; NONE only those about
-- the subjects the receiver added (SSF 1.0 add/remove subject). Streams created before
-- this migration keep ALL, their behaviour so far; Weft creates new streams with NONE
-- unless the receiver asks for ALL.
ALTER TABLE ssf_streams ADD COLUMN default_subjects TEXT NOT NULL DEFAULT 'ALL'
    CHECK (default_subjects IN ('ALL', 'NONE'));

-- The subjects a stream receives events about: user ids (the sub of an iss_sub
-- subject identifier under Weft's issuer).
CREATE TABLE ssf_stream_subjects (
    stream_id   TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream_id, subject)
);
-- Fan-out looks up the streams of an event's subject.
CREATE INDEX ssf_stream_subjects_subject_idx ON ssf_stream_subjects (subject);

-- +goose Down
DROP TABLE ssf_stream_subjects;
ALTER TABLE ssf_streams DROP COLUMN default_subjects;
ALTER TABLE ssf_streams DROP COLUMN authorization_sealed;
