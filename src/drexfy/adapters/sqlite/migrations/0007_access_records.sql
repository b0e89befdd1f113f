-- Operators (people with a stable id), API tokens (listed and revocable), sign-in failure counters
-- and four-eyes approval requests: small JSON documents by (kind, id), changed by compare-and-set
-- on their version (issue 14).
CREATE TABLE access_records (
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
