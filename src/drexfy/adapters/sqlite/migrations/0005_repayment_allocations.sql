-- A repayment's shares become rows of their own: a repayment to 100,000 holders no longer has to
-- be read and rewritten whole for every batch. The repayment keeps running totals and a cursor.
CREATE TABLE repayment_allocations (
    repayment_id TEXT NOT NULL REFERENCES repayments (id),
    investor_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    data         TEXT NOT NULL,
    PRIMARY KEY (repayment_id, investor_id)
) WITHOUT ROWID;
-- Held-back shares of an investor (released when the investor is unblocked).
CREATE INDEX repayment_allocations_by_investor ON repayment_allocations (investor_id, status);

-- Existing repayments: their embedded shares move to rows, their totals are computed once.
INSERT INTO repayment_allocations (repayment_id, investor_id, status, data)
SELECT r.id, json_extract(a.value, '$.investor_id'), json_extract(a.value, '$.status'), a.value
FROM repayments r, json_each(r.data, '$.allocations') a;

UPDATE repayments SET data = json_remove(json_set(data,
    '$.holders', (SELECT count(*) FROM repayment_allocations x WHERE x.repayment_id = repayments.id),
    '$.pending', (SELECT count(*) FROM repayment_allocations x
                  WHERE x.repayment_id = repayments.id AND x.status = 'PENDING'),
    '$.paid_count', (SELECT count(*) FROM repayment_allocations x
                     WHERE x.repayment_id = repayments.id AND x.status = 'PAID'),
    '$.held_back_count', (SELECT count(*) FROM repayment_allocations x
                          WHERE x.repayment_id = repayments.id AND x.status = 'HELD_BACK'),
    '$.released_count', (SELECT count(*) FROM repayment_allocations x
                         WHERE x.repayment_id = repayments.id AND x.status = 'RELEASED'),
    '$.paid_minor', (SELECT COALESCE(SUM(json_extract(x.data, '$.interest.minor')
                                         + json_extract(x.data, '$.principal.minor')), 0)
                     FROM repayment_allocations x
                     WHERE x.repayment_id = repayments.id AND x.status IN ('PAID', 'RELEASED')),
    '$.held_back_minor', (SELECT COALESCE(SUM(json_extract(x.data, '$.interest.minor')
                                              + json_extract(x.data, '$.principal.minor')), 0)
                          FROM repayment_allocations x
                          WHERE x.repayment_id = repayments.id AND x.status = 'HELD_BACK'),
    '$.units_retired', (SELECT COALESCE(SUM(json_extract(x.data, '$.units_retired')), 0)
                        FROM repayment_allocations x
                        WHERE x.repayment_id = repayments.id AND x.status IN ('PAID', 'RELEASED')),
    -- A batch assigned and not yet paid stays open; its members had the smallest pending ids.
    '$.open_batch', (SELECT MIN(json_extract(x.data, '$.batch')) FROM repayment_allocations x
                     WHERE x.repayment_id = repayments.id AND x.status = 'PENDING'
                       AND json_extract(x.data, '$.batch') IS NOT NULL),
    '$.batch_from', '',
    '$.batch_to', (SELECT COALESCE(MAX(x.investor_id), '') FROM repayment_allocations x
                   WHERE x.repayment_id = repayments.id AND x.status = 'PENDING'
                     AND json_extract(x.data, '$.batch') IS NOT NULL),
    '$.cursor', (SELECT COALESCE(MAX(x.investor_id), '') FROM repayment_allocations x
                 WHERE x.repayment_id = repayments.id AND x.status = 'PENDING'
                   AND json_extract(x.data, '$.batch') IS NOT NULL)
), '$.allocations')
WHERE json_type(data, '$.allocations') = 'array';

DROP TABLE repayment_holdbacks;
