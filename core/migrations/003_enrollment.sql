-- Carnet local store, version 3: where and as what this device syncs, in a
-- table of its own instead of the apps' settings (`meta` rows `setting.*`),
-- so that no app can overwrite it by writing a setting. At most one row:
-- written at enrollment, its token replaced at rotation, deleted by a wipe.
CREATE TABLE enrollment (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    server    TEXT NOT NULL,
    token     TEXT NOT NULL,
    device_id TEXT NOT NULL,
    team_id   TEXT NOT NULL,
    role      TEXT NOT NULL CHECK (role IN ('mediator', 'supervisor'))
);

-- A store that an older `carnet init` enrolled kept all five under setting
-- keys: they move here, and the settings go. A store holding only some of
-- them (an app that kept just the server and the token) is not enrolled in
-- the new sense; its settings stay for the app to read and enroll again.
INSERT INTO enrollment (singleton, server, token, device_id, team_id, role)
SELECT 1, s.value, t.value, d.value, m.value, r.value
  FROM meta s, meta t, meta d, meta m, meta r
 WHERE s.key = 'setting.server' AND t.key = 'setting.token'
   AND d.key = 'setting.device_id' AND m.key = 'setting.team_id'
   AND r.key = 'setting.role' AND r.value IN ('mediator', 'supervisor');

DELETE FROM meta
 WHERE key IN ('setting.server', 'setting.token', 'setting.device_id', 'setting.team_id', 'setting.role')
   AND EXISTS (SELECT 1 FROM enrollment);
