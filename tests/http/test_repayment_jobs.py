"""`POST .../repayments` only records the repayment and answers 202: the holders' snapshot (the
register synced from the ledger, the shares allocated) and the batches are the worker's job. The
request makes no ledger call (proved with a ledger whose every call blocks), what needs no snapshot
is refused at once with nothing written, and what only the snapshot finds ends the repayment FAILED
with the reason, visible through GET (not a dead job)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.http.app import create_app
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.runtime.access import AccessSettings
from tests.http.conftest import Api, http_settings
from tests.http.test_api import _holder_with_units


class BlockedLedger:
    """Every coroutine method of the ledger waits for `release` and counts the calls made meanwhile."""

    def __init__(self, ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = asyncio.Event()
        self.calls: list[str] = []
        inner = getattr(ledger, "inner", ledger)  # the metrics wrapper looks methods up on it per call
        methods = inspect.getmembers(inner, inspect.iscoroutinefunction)
        assert len(methods) > 10, "the ledger's methods are patched"
        for name, method in methods:
            if not name.startswith("_"):
                monkeypatch.setattr(inner, name, self._blocking(name, method))

    def _blocking(self, name: str, method: Any) -> Any:
        async def blocked(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            await self.release.wait()
            return await method(*args, **kwargs)

        return blocked


def _body(period: str = "2026-11", interest: int = 1_234, principal: int = 0, currency: str = "EUR") -> dict[str, Any]:
    return {
        "period": period,
        "interest": {"minor": interest, "currency": currency},
        "principal": {"minor": principal, "currency": currency},
    }


async def _jobs(api: Api) -> list[Any]:
    return [m for m in await api.svc.store.inbox.list(limit=100) if m.kind == "repayment.pay"]


async def test_the_request_answers_202_before_any_ledger_call_and_the_worker_snapshots_and_pays(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, instrument_id = await _holder_with_units(api, "early@example.com", "JOB1", 10)
    ledger = BlockedLedger(api.svc.ledger, monkeypatch)
    path = f"/api/v1/instruments/{instrument_id}/repayments"
    response = await asyncio.wait_for(
        api.client.post(path, json=_body(principal=20_000), headers=api.token("admin")), timeout=10
    )
    rep = await response.json()
    assert response.status == 202, rep
    assert response.headers["Location"] == f"/api/v1/repayments/{rep['id']}"
    assert ledger.calls == []  # nothing asked of the ledger: the snapshot is the worker's
    assert (rep["status"], rep["progress"], rep["as_of"]) == ("REQUESTED", {"holders": 0}, None)
    assert [m.key for m in await _jobs(api)] == [f"repayment:{rep['id']}"]

    worker = asyncio.create_task(api.drain())
    await asyncio.sleep(0.2)
    assert ledger.calls  # the job is the one reading the ledger (the register), and waits for it
    _, waiting = await api.call("GET", response.headers["Location"], "admin")
    assert waiting["status"] == "REQUESTED"
    ledger.release.set()
    await asyncio.wait_for(worker, timeout=30)
    _, done = await api.call("GET", response.headers["Location"], "admin")
    assert (done["status"], done["paid"]["minor"], done["progress"]) == ("COMPLETED", 21_234, {"holders": 1, "PAID": 1})
    assert (done["batches_paid"], done["units_retired"], done["failure"]) == (1, 2, None)
    assert done["snapshot_at"] is not None and "as_of" in done


async def test_what_needs_no_snapshot_is_refused_at_once_and_writes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, instrument_id = await _holder_with_units(api, "refused@example.com", "JOB2", 10)
    path = f"/api/v1/instruments/{instrument_id}/repayments"
    ledger = BlockedLedger(api.svc.ledger, monkeypatch)  # a refusal must not wait for it either
    refusals = [
        (_body(currency="USD"), 422, "/invalid-amount"),
        (_body(interest=0), 422, "/invalid-amount"),
        (_body(principal=1_500), 422, "/invalid-amount"),  # not a whole number of 100.00 EUR units
        (_body(period="   "), 400, "/validation-failed"),
    ]
    for body, status, problem_type in refusals:
        got_status, problem = await asyncio.wait_for(api.call("POST", path, "admin", json=body), timeout=10)
        assert (got_status, problem["type"].endswith(problem_type)) == (status, True), (body, problem)
    _, first = await api.call("POST", path, "admin", json=_body())
    status, problem = await api.call("POST", path, "admin", json=_body(period="2026-12"))
    assert status == 409 and "still being distributed" in problem["detail"], problem
    assert ledger.calls == []
    _, listed = await api.call("GET", path, "admin")
    assert [r["id"] for r in listed["items"]] == [first["id"]]  # the refusals recorded nothing
    assert [m.key for m in await _jobs(api)] == [f"repayment:{first['id']}"]
    ledger.release.set()
    await api.drain()
    status, problem = await api.call("POST", path, "admin", json=_body())
    assert status == 409 and problem["type"].endswith("/duplicate")


async def test_a_snapshot_that_finds_the_repayment_impossible_ends_it_failed_with_the_reason(api: Api) -> None:
    _, instrument_id = await _holder_with_units(api, "short@example.com", "JOB3", 10)
    path = f"/api/v1/instruments/{instrument_id}/repayments"
    # 20 units' principal, but only 10 are outstanding: only the holders' snapshot can tell.
    status, rep = await api.call("POST", path, "admin", json=_body(principal=200_000))
    assert (status, rep["status"]) == (202, "REQUESTED"), rep
    await api.drain()
    _, failed = await api.call("GET", f"/api/v1/repayments/{rep['id']}", "admin")
    assert failed["status"] == "FAILED"
    assert failed["failure"] == "principal retires 20 units but only 10 are outstanding"
    assert (failed["paid"]["minor"], failed["progress"]) == (0, {"holders": 0})
    (job,) = await _jobs(api)
    assert job.status is MessageStatus.DONE  # ended visibly, not a dead job retried to death
    _, allocations = await api.call("GET", f"/api/v1/repayments/{rep['id']}/allocations", "admin")
    assert allocations["items"] == []
    # Nothing was paid: the period may be asked again, correctly this time.
    status, again = await api.call("POST", path, "admin", json=_body(principal=100_000))
    assert status == 202 and again["id"] != rep["id"], again
    await api.drain()
    _, done = await api.call("GET", f"/api/v1/repayments/{again['id']}", "admin")
    assert (done["status"], done["paid"]["minor"], done["units_retired"]) == ("COMPLETED", 101_234, 10)


async def test_a_large_repayment_once_approved_is_only_recorded_and_queued(
    services: Any, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drexfy.adapters.notify import RecordingNotifier
    from drexfy.entrypoints.worker import Worker

    settings = http_settings(access=AccessSettings(repayment_threshold_minor=1_000))
    notifier = RecordingNotifier()
    app = create_app(services, settings, notifier=notifier)
    api = Api(
        await aiohttp_client(app), notifier, Worker(app[STATE].services, notifier, settings.worker, app[STATE].metrics)
    )
    _, instrument_id = await _holder_with_units(api, "large@example.com", "JOB4", 5)
    path = f"/api/v1/instruments/{instrument_id}/repayments"
    status, problem = await api.call("POST", path, "admin", json=_body(interest=5_000, currency="USD"))
    assert status == 422, problem  # refused before an approval is asked for
    status, request = await api.call("POST", path, "admin", json=_body(interest=5_000))
    assert (status, request["kind"]) == (202, "large_repayment"), request
    ledger = BlockedLedger(api.svc.ledger, monkeypatch)
    status, decided = await asyncio.wait_for(api.approve(request["id"], "admin"), timeout=10)
    assert (status, decided["status"]) == (200, "DONE"), decided
    assert ledger.calls == []
    repayment_id = decided["result"]["repayment_id"]
    _, rep = await api.call("GET", f"/api/v1/repayments/{repayment_id}", "admin")
    assert rep["status"] == "REQUESTED"
    ledger.release.set()
    await api.drain()
    _, done = await api.call("GET", f"/api/v1/repayments/{repayment_id}", "admin")
    assert (done["status"], done["paid"]["minor"]) == ("COMPLETED", 5_000)


async def test_a_repayment_whose_job_dies_says_so_and_a_retry_of_the_job_pays_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault no retry fixes (here the allocation raising) sends the job to the dead letter: the
    repayment stays REQUESTED, but GET shows its job DEAD, `repayments status --follow` stops and
    says how to resume instead of waiting forever, and retrying the job pays the holders once."""
    import io

    from drexfy.domain.processes import repayment as process
    from drexfy.entrypoints import cli_repayments

    _, instrument_id = await _holder_with_units(api, "stall@example.com", "JOB5", 10)
    allocate = process._allocate

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("allocation store unavailable")

    monkeypatch.setattr(process, "_allocate", broken)
    status, rep = await api.call("POST", f"/api/v1/instruments/{instrument_id}/repayments", "admin", json=_body())
    assert status == 202 and rep["job"]["status"] == "PENDING", rep
    for _ in range(100):  # its retries come after a (short) backoff
        await api.drain()
        if (await _jobs(api))[0].status is MessageStatus.DEAD:
            break
        await asyncio.sleep(0.02)
    location = f"/api/v1/repayments/{rep['id']}"
    _, stalled = await api.call("GET", location, "admin")
    assert (stalled["status"], stalled["job"]["status"], stalled["job"]["attempts"]) == ("REQUESTED", "DEAD", 3)
    _, listed = await api.call("GET", f"/api/v1/instruments/{instrument_id}/repayments", "frontend")
    assert [r["job"]["status"] for r in listed["items"]] == ["DEAD"]
    assert "RuntimeError" not in str(listed)  # the error stays on the operators' jobs page

    out = io.StringIO()
    followed = await asyncio.wait_for(cli_repayments._follow(api.svc, rep["id"], out, interval=0.01), timeout=5)
    assert followed.status.value == "REQUESTED"
    line = out.getvalue()
    job_id = stalled["job"]["id"]
    assert "STALLED (REQUESTED)" in line and "RuntimeError" in line, line
    assert f"drexfy jobs retry {job_id}" in line

    monkeypatch.setattr(process, "_allocate", allocate)
    status, _ = await api.call("POST", f"/api/v1/jobs/{job_id}/retry", "admin")
    assert status in (200, 202)
    await api.drain()
    _, done = await api.call("GET", location, "admin")
    assert (done["status"], done["paid"]["minor"], done["job"]["status"]) == ("COMPLETED", 1_234, "DONE")
