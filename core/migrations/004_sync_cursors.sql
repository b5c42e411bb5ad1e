-- Carnet local store, version 4: the two sync cursors in a table of their
-- own, apart from `meta` where the apps' settings live, so that nothing but
-- the sync protocol can move them. `push`: the device's own log,
-- acknowledged by the server up to `position`; `pull`: the team's log,
-- applied up to `position`.
CREATE TABLE sync_cursors (
    name     TEXT PRIMARY KEY CHECK (name IN ('push', 'pull')),
    position INTEGER NOT NULL CHECK (position >= 0)
) WITHOUT ROWID;

-- Earlier versions kept them in `meta`: as `sync.push_acked` /
-- `sync.pull_cursor`, or, before that, as the settings
-- `setting.sync.push_acked` / `setting.sync.pull_cursor`. The newer key wins.
INSERT INTO sync_cursors (name, position)
SELECT c.name, CAST(c.value AS INTEGER)
  FROM (SELECT 'push' AS name,
               COALESCE((SELECT value FROM meta WHERE key = 'sync.push_acked'),
                        (SELECT value FROM meta WHERE key = 'setting.sync.push_acked')) AS value
        UNION ALL
        SELECT 'pull',
               COALESCE((SELECT value FROM meta WHERE key = 'sync.pull_cursor'),
                        (SELECT value FROM meta WHERE key = 'setting.sync.pull_cursor'))) AS c
 WHERE c.value IS NOT NULL AND CAST(c.value AS INTEGER) >= 0;

DELETE FROM meta
 WHERE key IN ('sync.push_acked', 'sync.pull_cursor',
               'setting.sync.push_acked', 'setting.sync.pull_cursor');
