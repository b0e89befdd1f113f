"""Four-eyes approval steps (features/four_eyes.feature)."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from drexfy.domain.processes import approvals as ap
from tests.bdd.world import World


@when(parsers.parse('compliance officer "{officer}" asks to unblock "{name}" because "{reason}"'))
def officer_asks_to_unblock(world: World, officer: str, name: str, reason: str) -> None:
    world.approvals[name] = world.driver.request_unblock(officer, name, reason)


@when(parsers.parse('compliance officer "{officer}" approves the unblock of "{name}"'))
def officer_approves(world: World, officer: str, name: str) -> None:
    world.driver.decide(officer, world.approvals[name], approve=True)
    assert world.error is None, world.error


@when(parsers.parse('compliance officer "{officer}" tries to approve the unblock of "{name}"'))
def officer_tries_to_approve(world: World, officer: str, name: str) -> None:
    world.driver.decide(officer, world.approvals[name], approve=True)


@when(parsers.parse('compliance officer "{officer}" rejects the unblock of "{name}"'))
def officer_rejects(world: World, officer: str, name: str) -> None:
    world.driver.decide(officer, world.approvals[name], approve=False)
    assert world.error is None, world.error


@then("the decision is refused")
def decision_refused(world: World) -> None:
    assert world.error is not None


@then(parsers.parse('the unblock of "{name}" waits for a second officer'))
def unblock_waits(world: World, name: str) -> None:
    approval = world.run(ap.get_approval(world.svc, world.approvals[name]))
    assert (approval.kind, approval.subject, approval.status) == (
        "unblock",
        world.investors[name],
        ap.ApprovalStatus.PENDING,
    )


@then(parsers.parse('"{name}" was unblocked exactly once'))
def unblocked_once(world: World, name: str) -> None:
    async def names() -> list[str]:
        async with world.svc.store.unit_of_work() as uow:
            return [e.name for e in await uow.events.list(aggregate_id=world.investors[name], limit=1000)]

    assert world.run(names()).count("InvestorUnblocked") == 1
    approval = world.run(ap.get_approval(world.svc, world.approvals[name]))
    assert approval.status is ap.ApprovalStatus.DONE
