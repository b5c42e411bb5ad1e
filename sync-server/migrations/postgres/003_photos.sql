-- Photos (issue 13): what the team log says of them. The bytes themselves
-- are the blob store's (004); these tables are the log's, written by a
-- push in the same transaction as the changes that name or erase them.

-- An erased photo in the change log: the full image's hash (32 bytes)
-- followed by the thumbnail's, with `hash` and `bytes` NULL. A row with
-- `bytes` NULL and no `photo` is a record's erasure, as before.
ALTER TABLE change_log ADD COLUMN photo BYTEA;

-- Read model: the photos each live record's document names (what the
-- blob routes check a hash against).
CREATE TABLE record_photos (
    team_id    TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    thumb      BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    thumb_size BIGINT NOT NULL,
    record_id  BYTEA NOT NULL,
    PRIMARY KEY (team_id, hash, record_id)
);
CREATE INDEX record_photos_by_thumb ON record_photos (team_id, thumb);
CREATE INDEX record_photos_by_record ON record_photos (team_id, record_id);

-- Erased photos: both hashes and when, so that no instance takes or serves
-- their bytes again and a stale device cannot bring them back.
CREATE TABLE photo_tombstones (
    team_id TEXT NOT NULL,
    hash    BYTEA NOT NULL,
    thumb   BYTEA NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (team_id, hash)
);
CREATE INDEX photo_tombstones_by_thumb ON photo_tombstones (team_id, thumb);
