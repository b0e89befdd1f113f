"""The durable worker: drains the inbox into the processes and relays the outbox to the frontend.
(About 520 lines: the worker's loops share one lifecycle and one set of slots; split, the shutdown
and backpressure rules would be spread over several modules.)

- Inbox: claims due messages (a lease: a worker that dies mid-message loses its claim after
  `lease_seconds` and another claim picks the message up again), groups them by partition (an
  order, an applicant) so one order's events run one after the other, and dispatches each to its
  process. The processes are idempotent and resumable, which makes redelivery safe: duplicate
  events, retries and restarts never settle, mint or pay twice.
- Failures: a transient error (ledger or vault unreachable, provider down, a concurrent update, an
  unknown error) is retried with exponential backoff and full jitter; a permanent one (the event is
  invalid for good) and anything still failing after `max_attempts` goes to the dead letter (DEAD),
  visible in `GET /api/v1/jobs?status=DEAD`, in `drexfy_jobs{status="dead"}` and retried with
  `drexfy jobs retry ID`.
- Outbox: each notify event is delivered to the Notifier (the signed HTTP call to the frontend);
  failures are retried with backoff the same way.
- Periodically: unpaid orders past their reservation are expired; refunds that are due (never
  asked, the gateway was down, or a failed one has waited out its back-off) are asked again; bank
  deposits left MATCHED by a ledger outage are minted (once each: the mint is the deposit's
  ledger operation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from drexfy.domain import processes as p
from drexfy.domain.audit import AUDIT_ACTOR, WORKER, acting_as
from drexfy.domain.deposit import DepositStatus
from drexfy.domain.errors import (
    ClassificationRefused,
    DomainError,
    InvalidAmount,
    InvalidWebhook,
    LedgerPending,
    LedgerUnavailable,
    NotFound,
    OperationConflict,
    SettlementInProgress,
    ValidationFailed,
)
from drexfy.domain.model import OrderStatus
from drexfy.domain.ports import LEDGER_WAIT, QueuedMessage
from drexfy.domain.processes.audit import anchor_audit
from drexfy.domain.provider_events import AmlAlert, KycResult, KycReview, PaymentEvent, PaymentEventKind
from drexfy.entrypoints.runtime import messages
from drexfy.entrypoints.runtime.logs import request_id_var
from drexfy.entrypoints.runtime.metrics import Metrics
from drexfy.entrypoints.runtime.settings import WorkerSettings

log = logging.getLogger("drexfy.worker")

#: Errors that no retry can fix: the message goes to the dead letter at once.
PERMANENT = (ValidationFailed, InvalidWebhook, InvalidAmount, OperationConflict, ClassificationRefused)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))],
    never below a tenth of the base (so a burst of failures does not spin)."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return max(base / 10, (rng or random).uniform(0, ceiling))


def describe(error: BaseException) -> str:
    """A short error text for the job record: the domain code and message, or just the type."""
    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"[:500]
    return type(error).__name__


#: Rows deleted per store call while purging (short transactions, never one huge delete).
PURGE_BATCH = 500


async def purge_old(services: p.Services, settings: WorkerSettings) -> dict[str, int]:
    """Delete DONE jobs older than `done_retention_days` from both queues and Idempotency-Key
    records older than `idempotency_retention_hours`; how many of each went. DEAD jobs stay."""
    now = services.clock.now()
    done_before = now - timedelta(days=settings.done_retention_days)
    store = services.store
    purged = {"inbox": 0, "outbox": 0, "idempotency": 0}
    for name, purge, before in (
        ("inbox", store.inbox.purge_done, done_before),
        ("outbox", store.outbox.purge_done, done_before),
        ("idempotency", store.idempotency.purge, now - timedelta(hours=settings.idempotency_retention_hours)),
    ):
        while True:
            deleted = await purge(before, PURGE_BATCH)
            purged[name] += deleted
            if deleted < PURGE_BATCH:
                break
    return purged


class Worker:
    """Inbox consumer and outbox relay over one Services. `run()` until `stop()`."""

    def __init__(
        self,
        services: p.Services,
        notifier: Any,
        settings: WorkerSettings | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.svc = services
        self.notifier = notifier
        self.settings = settings or WorkerSettings()
        self.metrics = metrics or Metrics()
        self._rng = rng or random.Random()
        self._stop = asyncio.Event()
        self._last_expiry = 0.0
        self._last_purge = 0.0
        self._last_refunds = 0.0
        self._last_deposits = 0.0
        self._wakeup = asyncio.Event()
        #: partition -> messages claimed and not finished yet (the head is being processed).
        self._partitions: dict[str, list[QueuedMessage]] = {}
        self._partition_tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max(1, self.settings.concurrency))

    # -- lifecycle --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wakeup.set()

    def poke(self) -> None:
        """Wake the loop now (e.g. a webhook was just accepted)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Run until `stop()`: a continuous inbox pipeline (new messages are claimed as soon as a
        slot frees, so one slow settlement does not hold back a whole batch), the outbox relay and
        the periodic expiry. In-flight messages are finished before it returns."""
        log.info("worker started")
        AUDIT_ACTOR.set(WORKER)  # the loops' changes (expiry, register, refunds) are the worker's
        await self._resume_ledger()
        loops = [asyncio.create_task(self._relay_loop(), name="drexfy-outbox-relay")]
        loops.append(asyncio.create_task(self._keeper_loop(), name="drexfy-ledger-keeper"))
        if self.settings.reconcile_every > 0:
            loops.append(asyncio.create_task(self._reconcile_loop(), name="drexfy-reconciliation"))
        if self.settings.register_every > 0:
            loops.append(asyncio.create_task(self._register_loop(), name="drexfy-register"))
        if self.settings.audit_anchor_every > 0:
            loops.append(asyncio.create_task(self._anchor_loop(), name="drexfy-audit-anchor"))
        try:
            await self._inbox_loop()
        finally:
            for loop in loops:
                loop.cancel()
            for loop in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            if self._partitions:
                await asyncio.gather(*self._partition_tasks, return_exceptions=True)
        log.info("worker stopped")

    async def _resume_ledger(self) -> None:
        """Finish ledger transactions a crash left broadcast but unconfirmed (the same signed
        bytes go out again) before taking new work. Each is waited for only as long as a job would
        wait (`ledger_wait_s`): on a chain that stopped, waiting the full receipt timeout for each
        in turn would keep the worker from its inbox for minutes; what is not final yet is finished
        by its own job and the keeper."""
        waiting = LEDGER_WAIT.set(self.settings.ledger_wait_s)
        try:
            finished = await self.svc.ledger.resume_unfinished()
        except DomainError as error:
            log.warning("could not resume unfinished ledger transactions: %s", error.message)
            return
        finally:
            LEDGER_WAIT.reset(waiting)
        if finished:
            log.info("resumed unfinished ledger transactions", extra={"count": len(finished)})

    async def _inbox_loop(self) -> None:
        slots = max(1, self.settings.concurrency)
        self._limit = asyncio.Semaphore(slots)
        while not self._stop.is_set():
            claimed = 0
            try:
                backlog = sum(len(queue) for queue in self._partitions.values())
                # Claim only what can start soon: claimed messages hold a lease.
                room = min(self.settings.batch_size, 2 * slots - backlog)
                if room > 0:
                    batch = await self.svc.store.inbox.claim(self.svc.clock.now(), room, self.settings.lease_seconds)
                    claimed = len(batch)
                    for message in batch:
                        self._enqueue(message)
                await self._maybe_expire()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The store itself failed; keep the loop alive and try again shortly.
                log.exception("worker tick failed")
            if not claimed:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.settings.poll_interval)

    def _enqueue(self, message: QueuedMessage) -> None:
        """Queue behind its partition (one order's events one after the other); start a runner for
        a partition that has none."""
        key = messages.partition_of(message.payload, message.id)
        queue = self._partitions.get(key)
        if queue is not None:
            queue.append(message)
            return
        self._partitions[key] = [message]
        task = asyncio.create_task(self._run_partition(key))
        self._partition_tasks.add(task)
        task.add_done_callback(self._partition_tasks.discard)

    async def _run_partition(self, key: str) -> None:
        queue = self._partitions[key]
        try:
            while queue:
                message = queue[0]
                async with self._limit:
                    await self._process(message)
                queue.pop(0)
                self._wakeup.set()  # a slot is free: claim more
        finally:
            del self._partitions[key]

    async def _relay_loop(self) -> None:
        while True:
            try:
                relayed = await self.relay_outbox_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed")
                relayed = 0
            if not relayed:
                await asyncio.sleep(self.settings.poll_interval)

    async def _keeper_loop(self) -> None:
        """The ledger keeper, beside the inbox: no nonce or sequence claimed by a job that died or
        waits for a retry holds every later transaction back for longer than a few seconds."""
        while True:
            try:
                await self.svc.ledger.maintain()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("ledger keeper failed: %s", describe(error))
            await asyncio.sleep(self.settings.ledger_keeper_every)

    async def _register_loop(self) -> None:
        """Positions follow the ledger: holder-to-holder transfers are applied, once each."""
        while True:
            try:
                await p.sync_registers(self.svc)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("register sync failed: %s", describe(error))
            await asyncio.sleep(self.settings.register_every)

    async def _anchor_loop(self) -> None:
        """Anchor the audit log's head every `audit_anchor_every` seconds (after the first wait:
        a restart loop must not spend a transaction per start)."""
        while True:
            await asyncio.sleep(self.settings.audit_anchor_every)
            try:
                anchor = await anchor_audit(self.svc)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the ledger or the store is down: the next round tries again
                log.warning("audit anchoring failed: %s", describe(error))
            else:
                if anchor is not None:
                    log.info("audit head anchored", extra={"outcome": f"{anchor.seq}:{anchor.tx_id}"})

    async def _reconcile_loop(self) -> None:
        """Reconcile at start, then every `reconcile_every` seconds, beside the inbox (a ledger
        scan can be slow and must not hold settlements back)."""
        while True:
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the ledger or the store is down: the next round tries again
                log.warning("reconciliation failed: %s", describe(error))
            await asyncio.sleep(self.settings.reconcile_every)

    async def reconcile_once(self) -> list[p.Reconciliation]:
        """Compare every issued instrument's holders on the ledger with the store; set the drift
        gauge and log each differing address (ids and addresses only)."""
        reports = await p.reconcile_all(self.svc)
        for report in reports:
            self.metrics.ledger_drift.set(len(report.drift), instrument=report.symbol)
            self.metrics.reserved_without_order.set(report.reserved_without_order, instrument=report.symbol)
            if report.reserved_without_order:
                log.warning(
                    "reserved units and open orders disagree",
                    extra={
                        "instrument_id": report.instrument_id,
                        "outcome": f"{report.units_reserved} reserved, orders hold {report.reserved_by_orders}",
                    },
                )
            for drift in report.drift:
                log.warning(
                    "ledger and store disagree",
                    extra={
                        "instrument_id": report.instrument_id,
                        "address": drift.address,
                        "investor_id": drift.investor_id,
                        "outcome": f"ledger {drift.ledger_units} units, store {drift.store_units}",
                    },
                )
        self.metrics.reconciled_at.set(self.svc.clock.now().timestamp())
        return reports

    async def _maybe_expire(self) -> None:
        if time.monotonic() - self._last_expiry >= self.settings.expire_every:
            self._last_expiry = time.monotonic()
            expired = await p.expire_orders(self.svc)
            if expired:
                log.info("orders expired", extra={"outcome": str(expired)})
        if time.monotonic() - self._last_refunds >= self.settings.refund_every:
            self._last_refunds = time.monotonic()
            refunded = await p.retry_refunds(self.svc)
            if refunded:
                log.info("refunds asked", extra={"outcome": str(refunded)})
        if time.monotonic() - self._last_deposits >= self.settings.deposit_every:
            self._last_deposits = time.monotonic()
            swept = await p.retry_deposits(self.svc)
            minted = [d.id for d in swept if d.status is DepositStatus.MINTED]
            if minted:
                log.info("waiting deposits minted", extra={"outcome": str(len(minted))})
        if time.monotonic() - self._last_purge >= self.settings.purge_every:
            self._last_purge = time.monotonic()
            purged = await purge_old(self.svc, self.settings)
            if any(purged.values()):
                log.info("old jobs and idempotency records purged", extra={"outcome": str(purged)})

    async def tick(self) -> int:
        """One round: inbox batch, outbox batch, and the periodic expiry. Returns messages handled."""
        handled = await self.drain_inbox_once()
        handled += await self.relay_outbox_once()
        await self._maybe_expire()
        return handled

    async def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Process until nothing is due (tests, the demo, `drexfy worker --once`)."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.drain_inbox_once() + await self.relay_outbox_once()
            total += handled
            if not handled:
                break
        return total

    # -- inbox ------------------------------------------------------------------------------------

    async def drain_inbox_once(self) -> int:
        now = self.svc.clock.now()
        claimed = await self.svc.store.inbox.claim(now, self.settings.batch_size, self.settings.lease_seconds)
        if not claimed:
            return 0
        groups: dict[str, list[QueuedMessage]] = defaultdict(list)
        for message in claimed:
            groups[messages.partition_of(message.payload, message.id)].append(message)
        limit = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def run_group(group: list[QueuedMessage]) -> None:
            async with limit:
                for message in group:
                    await self._process(message)

        await asyncio.gather(*(run_group(g) for g in groups.values()))
        return len(claimed)

    async def _process(self, message: QueuedMessage) -> None:
        # The webhook's request id follows its job into the worker's logs (end-to-end tracing).
        rid = message.payload.get("request_id")
        token = request_id_var.set(rid if isinstance(rid, str) else None)
        waiting = LEDGER_WAIT.set(self.settings.ledger_wait_s)  # a slow chain must not hold the slot
        try:
            with acting_as(messages.actor_of(message.payload), rid if isinstance(rid, str) else message.id):
                await self._process_message(message)
        finally:
            LEDGER_WAIT.reset(waiting)
            request_id_var.reset(token)

    async def _process_message(self, message: QueuedMessage) -> None:
        started = time.perf_counter()
        try:
            event = messages.decode(message.kind, message.payload)
        except Exception as exc:  # a payload we cannot read will never become readable
            await self._dead(message, f"undecodable payload: {type(exc).__name__}")
            return
        try:
            await self._dispatch(message, event)
        except asyncio.CancelledError:
            raise
        except NotFound as exc:
            if isinstance(event, KycResult | PaymentEvent | AmlAlert):
                # A provider event naming an applicant, investor or order we do not know: no retry
                # will find it, and it is no failure of ours. Parked apart from the dead letter.
                await self._park(message, describe(exc))
            else:
                await self._retry_or_dead(message, exc)
        except PERMANENT as exc:
            await self._dead(message, describe(exc))
        except Exception as exc:
            await self._retry_or_dead(message, exc)
        else:
            await self.svc.store.inbox.complete(message.id)
            self.metrics.jobs_processed.inc(queue="inbox", outcome="done")
            log.info(
                "job done",
                extra={
                    "job_id": message.id,
                    "kind": message.kind,
                    "attempt": message.attempts,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _dispatch(self, message: QueuedMessage, event: Any) -> None:
        if isinstance(event, KycResult):
            await p.handle_kyc_result(self.svc, event)
        elif isinstance(event, KycReview):
            await p.handle_kyc_review(self.svc, event)
        elif isinstance(event, PaymentEvent):
            was_settled = False
            if event.kind is PaymentEventKind.SUCCEEDED:
                with contextlib.suppress(NotFound):
                    async with self.svc.store.unit_of_work() as uow:
                        was_settled = (await uow.orders.get(event.order_id)).status is OrderStatus.SETTLED
            order = await p.handle_payment(self.svc, event)
            # Observed once per order: by the event that settled it, not by its duplicates.
            if not was_settled and event.kind is PaymentEventKind.SUCCEEDED and order.status is OrderStatus.SETTLED:
                elapsed = (self.svc.clock.now() - message.created_at).total_seconds()
                self.metrics.settlement_latency.observe(max(elapsed, 0.0))
        elif isinstance(event, AmlAlert):
            await p.handle_aml_alert(self.svc, event)
        elif isinstance(event, p.PayRepayment):
            await p.continue_repayment(self.svc, event.repayment_id)
        else:  # pragma: no cover - decode() only returns the types above
            raise ValidationFailed(f"no handler for {message.kind}")

    async def _retry_or_dead(self, message: QueuedMessage, error: BaseException, *, queue: str = "inbox") -> None:
        limit = self.settings.max_attempts if queue == "inbox" else self.settings.max_notify_attempts
        # Waiting is not failing: an order another attempt holds, a transaction not included yet,
        # a ledger node that is down. None of them is the job's fault, so none dead-letters it.
        waiting = queue == "inbox" and isinstance(error, SettlementInProgress | LedgerUnavailable)
        if message.attempts >= limit and not waiting:
            await self._dead(message, f"gave up after {message.attempts} attempts: {describe(error)}", queue=queue)
            return
        delay = backoff_delay(message.attempts, self.settings.base_delay, self.settings.max_delay, self._rng)
        if isinstance(error, LedgerPending):
            # Journalled and on the network: look again after about a block, never dead-letter.
            delay = min(max(error.retry_after_s, self.settings.base_delay / 10), self.settings.max_delay)
        elif isinstance(error, SettlementInProgress) and error.until is not None:
            # Another attempt holds the order (a worker that died leaves its lease to run out):
            # come back when the lease ends, and never dead-letter a paid order for waiting.
            lease_left = (error.until - self.svc.clock.now()).total_seconds()
            delay = min(max(lease_left, 0.0) + self.settings.base_delay / 10, self.settings.max_delay)
        elif isinstance(error, LedgerUnavailable) and queue == "inbox":
            # The node is unreachable: back off, but look at least every `ledger_retry_max_s` so
            # settlement resumes within seconds of the node's return, not minutes.
            delay = min(delay, self.settings.ledger_retry_max_s)
        target = self.svc.store.inbox if queue == "inbox" else self.svc.store.outbox
        await target.retry_later(message.id, describe(error), self.svc.clock.now() + timedelta(seconds=delay))
        self.metrics.jobs_processed.inc(queue=queue, outcome="retry")
        log.warning(
            "job will be retried",
            extra={
                "job_id": message.id,
                "kind": message.kind,
                "attempt": message.attempts,
                "error_code": getattr(error, "code", type(error).__name__),
                "delay_s": round(delay, 3),
                "queue": queue,
            },
        )

    async def _park(self, message: QueuedMessage, error: str) -> None:
        await self.svc.store.inbox.park(message.id, error)
        self.metrics.jobs_processed.inc(queue="inbox", outcome="parked")
        log.warning(
            "job parked: the event names nothing we know",
            extra={"job_id": message.id, "kind": message.kind, "attempt": message.attempts, "queue": "inbox"},
        )

    async def _dead(self, message: QueuedMessage, error: str, *, queue: str = "inbox") -> None:
        target = self.svc.store.inbox if queue == "inbox" else self.svc.store.outbox
        await target.dead(message.id, error)
        self.metrics.jobs_processed.inc(queue=queue, outcome="dead")
        log.error(
            "job dead-lettered",
            extra={"job_id": message.id, "kind": message.kind, "attempt": message.attempts, "queue": queue},
        )

    # -- outbox -----------------------------------------------------------------------------------

    async def relay_outbox_once(self) -> int:
        now = self.svc.clock.now()
        claimed = await self.svc.store.outbox.claim(now, self.settings.batch_size, self.settings.lease_seconds)
        if not claimed:
            return 0
        limit = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def deliver(message: QueuedMessage) -> None:
            async with limit:
                payload = message.payload
                try:
                    await self.notifier.notify(
                        str(payload.get("event_id", message.key)),
                        str(payload.get("name", message.kind)),
                        str(payload.get("aggregate_id", "")),
                        {"occurred_at": payload.get("occurred_at"), **dict(payload.get("payload") or {})},
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    await self._retry_or_dead(message, exc, queue="outbox")
                else:
                    await self.svc.store.outbox.complete(message.id)
                    self.metrics.jobs_processed.inc(queue="outbox", outcome="done")

        await asyncio.gather(*(deliver(m) for m in claimed))
        return len(claimed)
