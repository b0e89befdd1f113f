-- The nonce/sequence each operation was given (OperationJournal.allocate_sequence): a retry after a
-- crash, or a second process preparing the same operation, gets the same number back instead of a
-- new one, so no number is left unused (an unused EVM nonce or XRPL sequence stalls the account).
CREATE TABLE sequence_claims (
    claim    TEXT NOT NULL,
    account  TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    PRIMARY KEY (claim, account)
);
