-- Bank credits (deposits and returned payouts): one row per bank entry, the id derived from the
-- bank's entry reference, so a re-imported statement finds its entries here and mints nothing twice.
CREATE TABLE deposits (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    investor_id TEXT,
    data        TEXT NOT NULL
);
-- The operators' list (UNMATCHED) and the mints still due (MATCHED).
CREATE INDEX deposits_by_status ON deposits (status, id);
