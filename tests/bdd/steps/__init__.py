"""Step definitions, one module per area. Given/When steps ask the world's driver to act; Then steps
read the store and the ledger."""
