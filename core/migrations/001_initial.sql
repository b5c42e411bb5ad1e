-- Carnet local store, version 1.
-- Documents are the truth; every other table is derived from them and can be
-- rebuilt. Ids are the 16 bytes of a UUIDv7.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One automerge document per record, held as its changes in `change_log`
-- and, once it has had many, a compacted snapshot here: the record is the
-- snapshot followed by its logged changes after `upto`. A record with few
-- changes (most of them) has no row here and costs its changes only.
CREATE TABLE documents (
    id    BLOB PRIMARY KEY,
    bytes BLOB NOT NULL,
    upto  INTEGER NOT NULL
);

-- The read model: what lists, filters and counts use, without automerge.
CREATE TABLE records (
    id            BLOB NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    occurred_at   INTEGER NOT NULL,
    sector        TEXT,
    quartier      TEXT,
    status        TEXT,
    status_at     INTEGER,
    category      TEXT,
    body          TEXT,
    activity_type TEXT,
    conflicts     INTEGER NOT NULL DEFAULT 0,
    -- Derived for the supervisors' aggregates (NULL when not applicable):
    -- a report's first applied forwarding and first applied fix (resolved
    -- or closed); the residents counted on an activity or a note.
    forwarded_at  INTEGER,
    fixed_at      INTEGER,
    met_known     INTEGER,
    met_new       INTEGER,
    referrals     INTEGER,
    residents_met INTEGER,
    view          TEXT NOT NULL
);
CREATE INDEX records_by_kind_time ON records (kind, occurred_at);
-- A search over every kind walks this newest first, checking each row
-- against the words' matches, and stops after a page.
CREATE INDEX records_by_time ON records (occurred_at);
CREATE INDEX records_by_kind_sector ON records (kind, sector, occurred_at);
CREATE INDEX records_by_kind_status ON records (kind, status, sector, occurred_at);
CREATE INDEX records_by_fix ON records (fixed_at) WHERE fixed_at IS NOT NULL;
CREATE INDEX records_by_forwarding ON records (forwarded_at) WHERE forwarded_at IS NOT NULL;

-- A record's mission axes, with its date so that a list filtered by axis
-- walks one axis newest first instead of gathering the whole axis, and its
-- kind so that counts per axis and kind read this table alone.
CREATE TABLE record_axes (
    axis        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    id          BLOB NOT NULL,
    kind        TEXT NOT NULL,
    PRIMARY KEY (axis, occurred_at, id)
) WITHOUT ROWID;

-- Referrals to partners written in residents' logs: the partner and when,
-- never the resident or the text, so that they are counted without reading
-- contacts.
CREATE TABLE record_referrals (
    at      INTEGER NOT NULL,
    partner TEXT NOT NULL,
    item    TEXT NOT NULL, -- the interaction's id
    id      BLOB NOT NULL,
    PRIMARY KEY (at, partner, item)
) WITHOUT ROWID;

-- Full-text search over notes, reports and activities (never contacts).
-- Contentless: the text lives in the documents and views only once.
CREATE VIRTUAL TABLE search USING fts5 (
    body,
    content = '',
    contentless_delete = 1,
    detail = 'none',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Every change this store holds, in the order it got them, with its encoded
-- bytes (what replication sends, and what documents are loaded from); hash
-- and bytes NULL mark an erasure (tombstone). `origin` is who sent it:
-- 'local', or a peer's id. A hash appears once: only changes new to their
-- document are logged.
CREATE TABLE change_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id BLOB NOT NULL,
    hash      BLOB,
    origin    TEXT NOT NULL,
    bytes     BLOB
);
CREATE INDEX change_log_by_record ON change_log (record_id);

-- Erased records: id and time only, so that the erasure replicates and a
-- stale peer's changes to the id are refused.
CREATE TABLE tombstones (
    id        BLOB PRIMARY KEY,
    erased_at INTEGER NOT NULL
) WITHOUT ROWID;

-- How far each peer has acknowledged our change log.
CREATE TABLE peers (
    peer       TEXT PRIMARY KEY,
    acked_upto INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
