-- The settlement nonce of each order (OperationJournal.order_nonce): allocated once, in the same
-- transaction that advances the counter, and never changed, so an order has exactly one EVM
-- payment attestation nonce however often its settlement is retried, resumed or re-attempted.
CREATE TABLE order_nonces (
    order_id TEXT PRIMARY KEY,
    nonce    INTEGER NOT NULL UNIQUE
);

-- The next nonce to hand out (one row; created on first use at a random base, see
-- serialization.random_nonce_base).
CREATE TABLE order_nonce_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    next INTEGER NOT NULL
);
