-- Drexfy store, schema version 1.
-- Aggregates are stored whole as JSON in `data` (drexfy.adapters.serialization); the columns next to
-- it are the keys the repositories look up by, kept in step on every add/save. Timestamps are
-- fixed-width ISO 8601 UTC text ("2026-11-22T04:05:06.000007Z"), so text comparison is time order.

CREATE TABLE investors (
    id           TEXT PRIMARY KEY,
    version      INTEGER NOT NULL,
    applicant_id TEXT,
    address      TEXT,
    email        TEXT NOT NULL,
    data         TEXT NOT NULL
);
CREATE INDEX investors_by_applicant ON investors (applicant_id) WHERE applicant_id IS NOT NULL;
CREATE INDEX investors_by_address ON investors (address) WHERE address IS NOT NULL;
CREATE INDEX investors_by_email ON investors (email);

-- Unit counters live in columns and change only through conditional updates (never via `data`),
-- so the CHECK constraints are the last line of defence against overselling.
CREATE TABLE instruments (
    id             TEXT PRIMARY KEY,
    version        INTEGER NOT NULL,
    symbol         TEXT NOT NULL UNIQUE,
    total_units    INTEGER NOT NULL CHECK (total_units > 0),
    units_sold     INTEGER NOT NULL CHECK (units_sold >= 0),
    units_reserved INTEGER NOT NULL CHECK (units_reserved >= 0),
    units_retired  INTEGER NOT NULL CHECK (units_retired >= 0 AND units_retired <= units_sold),
    data           TEXT NOT NULL,
    CHECK (units_sold + units_reserved <= total_units)
);

CREATE TABLE orders (
    id            TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    investor_id   TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE INDEX orders_by_investor ON orders (investor_id, created_at, id);
CREATE INDEX orders_by_status_expiry ON orders (status, expires_at, id);
CREATE INDEX orders_by_holding ON orders (investor_id, instrument_id, status);

CREATE TABLE positions (
    instrument_id TEXT NOT NULL,
    investor_id   TEXT NOT NULL,
    units         INTEGER NOT NULL CHECK (units >= 0),
    PRIMARY KEY (instrument_id, investor_id)
) WITHOUT ROWID;
CREATE INDEX positions_by_investor ON positions (investor_id, instrument_id);

CREATE TABLE repayments (
    id            TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    instrument_id TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE INDEX repayments_by_instrument ON repayments (instrument_id, created_at, id);

-- Which investors have a HELD_BACK allocation in which repayment; rewritten on every add/save.
CREATE TABLE repayment_holdbacks (
    investor_id  TEXT NOT NULL,
    repayment_id TEXT NOT NULL REFERENCES repayments (id),
    PRIMARY KEY (investor_id, repayment_id)
) WITHOUT ROWID;

CREATE TABLE withdrawals (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    investor_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX withdrawals_by_investor ON withdrawals (investor_id, created_at, id);

-- The audit trail. Ids are time-ordered (serialization.new_sortable_id), pages go by id.
CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE INDEX events_by_aggregate ON events (aggregate_id, id);

-- Inbox and outbox. `due_at` is set only while a message can be claimed: '' for a PENDING message
-- due now, its retry time, or (RUNNING) its lease end; NULL once DONE or DEAD. One index range scan
-- then finds every claimable message.
CREATE TABLE queue_messages (
    queue           TEXT NOT NULL,
    id              TEXT NOT NULL,
    key             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT,
    last_error      TEXT,
    due_at          TEXT,
    PRIMARY KEY (queue, id),
    UNIQUE (queue, key)
);
CREATE INDEX queue_messages_due ON queue_messages (queue, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX queue_messages_by_status ON queue_messages (queue, status, created_at, id);

CREATE TABLE journal (
    op_id       TEXT PRIMARY KEY,
    ledger      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    account     TEXT,
    sequence    INTEGER,
    tx_id       TEXT,
    payload     TEXT,
    result      TEXT NOT NULL,
    updated_at  TEXT
);
CREATE INDEX journal_unfinished ON journal (ledger, status, created_at, op_id);

CREATE TABLE account_sequences (
    account TEXT PRIMARY KEY,
    last    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
