-- server.db, version 3: each team log's lineage, an opaque string (32
-- lowercase hex characters, 128 random bits) that the sync answers carry
-- and that changes only when the log is replaced by an older copy (a
-- restore from a backup): devices that see a new one start their sync over,
-- so that they give back what the restored log lacks. Teams that exist get
-- one now (randomblob is drawn again for each row).
ALTER TABLE teams ADD COLUMN lineage TEXT;
UPDATE teams SET lineage = lower(hex(randomblob(16)));
