-- Purging old Idempotency-Key answers (IdempotencyRepository.purge) walks them by age.
CREATE INDEX idempotency_created ON idempotency (created_at);
