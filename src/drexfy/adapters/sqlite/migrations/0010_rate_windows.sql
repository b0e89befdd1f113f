-- Rate limits shared by every API process on this store (`rate_limits.kind = "store"`): one
-- fixed-window counter per limited key (a hash of the bucket and the token id or client address).
-- `expires` (epoch seconds) is the end of the window; rows past it are deleted from time to time.
CREATE TABLE rate_windows (
    counter TEXT PRIMARY KEY,
    win     INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_windows_by_expiry ON rate_windows (expires);
