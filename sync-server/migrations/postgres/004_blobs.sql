-- Version 4: photos' bytes (docs/photos.md, "Server"), so that any
-- instance serves any photo. A blob is named by the SHA-256 of its bytes
-- and received in appends; each append is one row of photo_chunks, at the
-- offset it started at. Keyed by the team first, like every table holding
-- a team's data.

CREATE TABLE photo_blobs (
    team_id   TEXT NOT NULL,
    hash      BYTEA NOT NULL,
    -- Hash and content checked: readable. Until then an upload in progress.
    complete  BOOLEAN NOT NULL,
    -- Bytes received (all of them once complete).
    size      BIGINT NOT NULL,
    -- Last written, ms since the epoch: what the collection round's grace
    -- period counts from.
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, hash)
);

CREATE TABLE photo_chunks (
    team_id TEXT NOT NULL,
    hash    BYTEA NOT NULL,
    pos     BIGINT NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (team_id, hash, pos)
);
