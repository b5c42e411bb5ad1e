-- Per-peer acknowledgements of this store's log served only a replication
-- path between stores that tests used; a device's sync keeps its two
-- cursors in meta (Store::cursor), and the server keeps no per-device
-- position (devices send theirs).
DROP TABLE IF EXISTS peers;
