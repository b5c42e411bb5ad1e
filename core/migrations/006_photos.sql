-- Carnet local store, version 6: photos of reports and notes (see
-- docs/photos.md). Every byte of a photo lives in this (encrypted) file,
-- like the records, so that it is protected at rest the same way.

-- An erased photo in the change log: the 32-byte hash of its full image
-- followed by its thumbnail's (64 bytes), with `hash` and `bytes` NULL. A
-- row with `bytes` NULL and no `photo` is a record's erasure, as before.
ALTER TABLE change_log ADD COLUMN photo BLOB;

-- A photo's bytes, named by the SHA-256 of the full image. `full` or
-- `thumb` is NULL until downloaded. `upload`: 'pending' for a photo taken
-- here and not yet on the server, 'done' once it is, NULL for one received
-- from the server. `added_at`: when the row was made here (the garbage
-- collection's grace period counts from it).
CREATE TABLE photos (
    hash       BLOB PRIMARY KEY,
    thumb_hash BLOB NOT NULL,
    full       BLOB,
    thumb      BLOB,
    size       INTEGER NOT NULL,
    thumb_size INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    upload     TEXT CHECK (upload IN ('pending', 'done'))
);
CREATE INDEX photos_pending ON photos (added_at) WHERE upload = 'pending';

-- A download cut in the middle: the chunks received so far of one blob
-- (full image or thumbnail), by the blob's own hash and their offset, so
-- that each chunk is one insert, whatever the blob's size.
CREATE TABLE photo_parts (
    hash   BLOB NOT NULL,
    offset INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (hash, offset)
);

-- Erased photos: the two hashes and when, so that the erasure replicates
-- and a stale device cannot bring the photo back.
CREATE TABLE photo_tombstones (
    hash  BLOB PRIMARY KEY,
    thumb BLOB NOT NULL,
    at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Read model: the photos each live record's document names.
CREATE TABLE record_photos (
    hash       BLOB NOT NULL,
    thumb      BLOB NOT NULL,
    size       INTEGER NOT NULL,
    thumb_size INTEGER NOT NULL,
    record_id  BLOB NOT NULL,
    PRIMARY KEY (hash, record_id)
) WITHOUT ROWID;
CREATE INDEX record_photos_by_thumb ON record_photos (thumb);
CREATE INDEX photo_tombstones_by_thumb ON photo_tombstones (thumb);
CREATE INDEX record_photos_by_record ON record_photos (record_id);
