"""The operator store and the approvals process on the SQLite store with a clock the test moves:
TOTP codes by RFC 6238 time step (the RFC's test vector, drift of one step, replay), the lockout's
backoff, approval expiry at its instant, and a transient failure retried to exactly one effect."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pyotp
import pytest

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.adapters.system import UuidIds
from drexfy.domain.errors import LedgerUnavailable
from drexfy.domain.processes import approvals as ap
from drexfy.domain.processes.base import Services
from drexfy.entrypoints.identity.operators import OperatorDirectory, SignInFailed, SignInLocked

T0 = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)
PASSWORD = "a long enough password"


@attrs.define
class MovingClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Any, MovingClock]]:
    store = await open_sqlite_store(tmp_path / "s.db")
    clock = MovingClock()
    yield store, clock
    await store.close()


def _vault(tmp_path: Path) -> LocalVault:
    return LocalVault(tmp_path / "keys", os.urandom(32))


def test_totp_follows_the_rfc_6238_test_vector():
    # RFC 6238 appendix B, SHA-1, secret "12345678901234567890", T = 59 s -> 94287082 (8 digits)
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of the ASCII secret
    assert pyotp.TOTP(secret, digits=8).at(59) == "94287082"
    assert pyotp.TOTP(secret, digits=8).at(1111111109) == "07081804"


async def test_a_code_of_the_current_or_an_adjacent_step_signs_in_once(env, tmp_path):
    store, clock = env
    directory = OperatorDirectory(store.access, clock, UuidIds(), _vault(tmp_path))
    ana = await directory.add("ana", ["compliance"], PASSWORD)
    totp = pyotp.TOTP(ana.totp_secret)
    # the code of the previous 30 s step (a phone's clock slightly behind) is accepted
    operator, role = await directory.sign_in("ana", PASSWORD, totp.at(clock.at - timedelta(seconds=30)))
    assert (operator.id, role) == (ana.id, "compliance")
    with pytest.raises(SignInFailed):  # replay of the same code
        await directory.sign_in("ana", PASSWORD, totp.at(clock.at - timedelta(seconds=30)))
    with pytest.raises(SignInFailed):  # two steps away: too far
        await directory.sign_in("ana", PASSWORD, totp.at(clock.at + timedelta(seconds=60)))
    clock.at += timedelta(seconds=30)
    await directory.sign_in("ana", PASSWORD, totp.at(clock.at))
    with pytest.raises(SignInFailed):  # an older step than the last one used
        await directory.sign_in("ana", PASSWORD, totp.at(clock.at - timedelta(seconds=30)))


async def test_the_lockout_doubles_with_each_further_failure_and_a_success_resets_it(env, tmp_path):
    store, clock = env
    directory = OperatorDirectory(
        store.access, clock, UuidIds(), _vault(tmp_path), max_failures=3, lockout=timedelta(seconds=10)
    )
    ana = await directory.add("ana", ["admin"], PASSWORD)
    for _ in range(3):
        with pytest.raises(SignInFailed):
            await directory.sign_in("ana", "wrong wrong wrong", "000000")
    with pytest.raises(SignInLocked) as locked:
        await directory.sign_in("ana", PASSWORD, pyotp.TOTP(ana.totp_secret).at(clock.at))
    assert locked.value.retry_after == 10
    clock.at += timedelta(seconds=10)
    with pytest.raises(SignInFailed):  # the 4th failure: locked for 20 s
        await directory.sign_in("ana", "wrong wrong wrong", "000000")
    with pytest.raises(SignInLocked) as locked:
        await directory.sign_in("ana", PASSWORD, "000000")
    assert locked.value.retry_after == 20
    clock.at += timedelta(seconds=20)
    await directory.sign_in("ana", PASSWORD, pyotp.TOTP(ana.totp_secret).at(clock.at))
    record = await store.access.get("sign-in", "ana")
    assert record.data == {"failures": 0, "locked_until": None}


# --- approvals ----------------------------------------------------------------------------------


def _services(store: Any, clock: MovingClock) -> Services:
    return Services(store=store, ledger=None, vault=None, kyc=None, payments=None, clock=clock, ids=UuidIds())  # type: ignore[arg-type]


@attrs.define
class Flaky:
    """An action that fails `failures` times with a transient error, then records its runs."""

    failures: int = 0
    runs: list[str] = attrs.field(factory=list)

    async def __call__(self, svc: Services, subject: str, params: Mapping[str, Any], approver: ap.Actor) -> Any:
        if self.failures:
            self.failures -= 1
            raise LedgerUnavailable("node down")
        self.runs.append(subject)
        return {"ran": subject}


def _actions(action: Flaky) -> dict[str, ap.ApprovalAction]:
    officers = frozenset({"compliance"})
    return {"test": ap.ApprovalAction(officers, officers, action)}


OFFICER_1, OFFICER_2 = ap.Actor("opr_1", "compliance"), ap.Actor("opr_2", "compliance")


async def test_a_request_expires_at_its_instant(env):
    store, clock = env
    svc, action = _services(store, clock), Flaky()
    request = await ap.request_approval(svc, _actions(action), "test", "x", {}, "why", OFFICER_1, timedelta(hours=1))
    clock.at += timedelta(hours=1)
    with pytest.raises(ap.ApprovalExpired):
        await ap.approve(svc, _actions(action), request.id, OFFICER_2, "ok")
    assert action.runs == []
    [listed], _ = await ap.list_approvals(svc, ap.ApprovalStatus.EXPIRED)
    assert listed.id == request.id
    clock.at -= timedelta(microseconds=1)  # a moment before: still approvable
    assert (await ap.approve(svc, _actions(action), request.id, OFFICER_2, "ok")).status is ap.ApprovalStatus.DONE


async def test_a_transient_failure_is_retried_after_the_lease_and_runs_once(env):
    store, clock = env
    svc, action = _services(store, clock), Flaky(failures=1)
    actions = _actions(action)
    request = await ap.request_approval(svc, actions, "test", "x", {}, "why", OFFICER_1, timedelta(hours=1))
    with pytest.raises(LedgerUnavailable):
        await ap.approve(svc, actions, request.id, OFFICER_2, "ok")
    stored = await ap.get_approval(svc, request.id)
    assert stored.status is ap.ApprovalStatus.EXECUTING and stored.error == "ledger-unavailable: node down"
    with pytest.raises(ap.ApprovalRefused):  # the requester cannot push it through either
        await ap.approve(svc, actions, request.id, OFFICER_1, "retry")
    done = await ap.approve(svc, actions, request.id, OFFICER_2, "retry")
    assert done.status is ap.ApprovalStatus.DONE and done.decided_by == "opr_2" and done.result == {"ran": "x"}
    with pytest.raises(ap.ApprovalDecided):
        await ap.approve(svc, actions, request.id, ap.Actor("opr_3", "compliance"), "again")
    assert action.runs == ["x"]


async def test_requesting_needs_an_allowed_role_and_a_reason(env):
    store, clock = env
    svc, actions = _services(store, clock), _actions(Flaky())
    with pytest.raises(ap.ApprovalRefused):
        await ap.request_approval(svc, actions, "test", "x", {}, "why", ap.Actor("a", "admin"), timedelta(hours=1))
    with pytest.raises(ap.ValidationFailed):
        await ap.request_approval(svc, actions, "test", "x", {}, "  ", OFFICER_1, timedelta(hours=1))
    with pytest.raises(ap.ValidationFailed):
        await ap.request_approval(svc, actions, "nope", "x", {}, "why", OFFICER_1, timedelta(hours=1))
    assert (await ap.list_approvals(svc))[0] == []
