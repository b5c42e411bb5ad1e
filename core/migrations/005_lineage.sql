-- Carnet local store, version 5: the lineage of the server's team log that
-- the sync cursors count in (an opaque string the server hands out with
-- every push acknowledgement and pull page). A server restored from a backup
-- has a new lineage: a device that sees another one than it stored knows its
-- cursors point into a log the server no longer has, and starts over from 0.
-- One row at most; none until the device first syncs with a server that
-- tells its lineage.
CREATE TABLE sync_lineage (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    lineage   TEXT NOT NULL
);
