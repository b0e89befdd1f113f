"""The HTTP service's CLI commands: token issue, jobs list/retry, the worker alone, demo-http."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
from typing import Any

import jwt
import pytest

from drexfy.domain.ports import MessageStatus, QueuedMessage
from drexfy.entrypoints import cli_common, cli_http, cli_ops, cli_people, demo_http
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.runtime import settings as runtime_settings
from tests.support.anvil import anvil_node  # noqa: F401 - fixture
from tests.support.metrics import sample


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DREXFY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DREXFY_LEDGER__KIND", "memory")
    parser = argparse.ArgumentParser(prog="drexfy")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (cli_http, cli_ops, cli_people, demo_http):
        module.register(commands)

    def run(*argv: str) -> int:
        args = parser.parse_args(argv)
        return int(args.func(args))

    return run


@pytest.fixture
def anvil_ledger(anvil_node, tmp_path, monkeypatch) -> dict[str, str]:  # noqa: F811
    """The suite deployed on anvil into the data dir (as an operator does with `drexfy contracts
    deploy`): a ledger that a separate worker can share. Returns the env vars that select it."""
    from drexfy.entrypoints.cli import main

    env = {
        "DREXFY_DATA_DIR": str(tmp_path),
        "DREXFY_LEDGER__KIND": "evm",
        "DREXFY_LEDGER__EVM__RPC_URL": anvil_node.url,
        "DREXFY_LEDGER__EVM__CHAIN_ID": "1287",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["contracts", "deploy"]) == 0
    return env


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["worker", "--once"], {"DREXFY_LEDGER__KIND": "memory"}, "ledger.kind = 'memory'"),
        (["worker"], {"DREXFY_LEDGER__KIND": "evm"}, "ledger.evm.rpc_url = 'embedded'"),
        (["serve", "--no-worker"], {"DREXFY_LEDGER__KIND": "evm"}, "ledger.evm.rpc_url = 'embedded'"),
    ],
)
def test_a_separate_worker_refuses_a_ledger_that_lives_in_one_process(tmp_path, monkeypatch, capsys, argv, env, named):
    """Apart from the API, a worker on the memory ledger or the embedded EVM would settle on a
    private chain nobody else sees: refused with the setting named, before anything starts."""
    from drexfy.entrypoints.cli import main

    monkeypatch.setenv("DREXFY_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err and "drexfy serve" in err
    assert not (tmp_path / "drexfy.sqlite").exists()  # nothing was opened or created


def test_token_issue_refuses_to_invent_secrets_for_a_deployment(cli, capsys, tmp_path):
    """Run from the wrong directory, `token issue` used to create fresh secrets there, and its
    tokens got 401 from the running service: now it names the data dir it looked in and stops."""
    assert cli("token", "issue", "--role", "admin") == 2
    err = capsys.readouterr().err
    assert str(tmp_path.resolve()) in err and "data_dir" in err
    assert not (tmp_path / runtime_settings.SECRETS_FILE).exists()


def test_token_issue_prints_a_token_the_service_accepts(cli, capsys, tmp_path):
    runtime_settings.http_secrets(load_settings())  # the deployment's secrets, as `serve` creates them
    assert cli("token", "issue", "--role", "investor", "--investor", "inv_1", "--ttl", "60") == 0
    token = capsys.readouterr().out.strip()
    secrets = json.loads((tmp_path / runtime_settings.SECRETS_FILE).read_text())
    claims = jwt.decode(token, secrets["jwt_secret"], algorithms=["HS256"], audience="drexfy-api")
    assert (claims["role"], claims["inv"], claims["exp"] - claims["iat"]) == ("investor", "inv_1", 60)
    assert oct((tmp_path / runtime_settings.SECRETS_FILE).stat().st_mode & 0o777) == "0o600"
    # the generated secrets are stable across runs
    assert cli("token", "issue", "--role", "admin") == 0
    assert json.loads((tmp_path / runtime_settings.SECRETS_FILE).read_text()) == secrets


def test_issued_tokens_are_listed_and_revoked_by_id(cli, capsys):
    runtime_settings.http_secrets(load_settings())
    assert cli("token", "issue", "--role", "frontend", "--subject", "bubble-prod", "--ttl", "600") == 0
    token = capsys.readouterr().out.strip()
    token_id = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert cli("token", "list") == 0
    listed = capsys.readouterr().out
    assert token_id in listed and "bubble-prod" in listed and "live" in listed and token not in listed
    assert cli("token", "revoke", token_id) == 0
    assert f"{token_id} revoked (frontend, bubble-prod)" in capsys.readouterr().out
    assert cli("token", "list") == 0
    assert token_id not in capsys.readouterr().out  # only live tokens by default
    assert cli("token", "list", "--all") == 0
    assert "revoked" in capsys.readouterr().out
    assert cli("token", "revoke", "tok_nobody") == 1
    assert [(e.action, e.subject) for e in asyncio.run(_audit_entries())] == [
        ("TokenIssued", token_id),
        ("TokenRevoked", token_id),
    ]


def test_operators_are_added_listed_and_disabled(cli, capsys, monkeypatch):
    import pyotp

    monkeypatch.setattr("sys.stdin", io.StringIO("a very long password\n"))
    assert cli("operators", "add", "Ana", "--role", "compliance", "--role", "auditor", "--password-stdin") == 0
    out = capsys.readouterr().out
    secret = out.split("it is not shown again):")[1].split()[0]
    assert pyotp.TOTP(secret).now().isdigit() and "otpauth://totp/Drexfy:ana?secret=" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli("operators", "add", "bob", "--role", "admin", "--password-stdin") == 2  # too short
    monkeypatch.setattr("sys.stdin", io.StringIO("a very long password\n"))
    assert cli("operators", "add", "ana", "--role", "admin", "--password-stdin") == 2  # the name is taken
    capsys.readouterr()
    assert cli("operators", "list") == 0
    listed = capsys.readouterr().out
    assert "ana" in listed and "compliance,auditor" in listed and "active" in listed
    assert secret not in listed and "password" not in listed
    assert cli("operators", "disable", "ana") == 0
    assert "disabled" in capsys.readouterr().out
    assert cli("operators", "list") == 0
    assert "DISABLED" in capsys.readouterr().out
    assert cli("operators", "disable", "nobody") == 1
    # enrolment and disabling are audit entries of the host login that ran them
    entries = asyncio.run(_audit_entries())
    assert [(e.action, e.actor.startswith("cli:")) for e in entries] == [
        ("OperatorEnrolled", True),
        ("OperatorDisabled", True),
    ]


async def _audit_entries() -> list[Any]:
    from drexfy.domain.audit import AuditFilter

    async with cli_common.open_services(load_settings()) as svc:
        entries, _ = await svc.store.audit.list(AuditFilter(), after=0, limit=100)
        return list(entries)


def test_an_investor_token_needs_the_investor(cli, capsys):
    assert cli("token", "issue", "--role", "investor") == 2
    assert "--investor" in capsys.readouterr().err


def test_production_mode_refuses_to_invent_secrets(monkeypatch, tmp_path):
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path), "mode": "embedded"})
    assert runtime_settings.http_secrets(settings)["jwt_secret"]
    with pytest.raises(Exception, match="required"):
        runtime_settings.http_secrets(
            load_settings(
                env={},
                overrides={
                    "data_dir": str(tmp_path),
                    "mode": "production",
                    "ledger.kind": "evm",
                    "ledger.evm.rpc_url": "http://x",
                    "http.jwt_secret": "j",
                    "http.kyc_webhook_secret": "k",
                    "http.stripe_webhook_secret": "",
                },
            )
        )


def test_jobs_list_and_retry_a_dead_job_then_the_worker_processes_it(cli, capsys, tmp_path, anvil_ledger):
    settings = load_settings()

    async def seed() -> None:
        async with cli_common.open_services(settings) as svc:
            message = QueuedMessage("job_1", "payments:evt_x", "payment.event", {"event": {}}, svc.clock.now())
            await svc.store.inbox.add(message)
            await svc.store.inbox.claim(svc.clock.now(), 1, 60)
            await svc.store.inbox.dead("job_1", "order-not-found: No such order.")

    asyncio.run(seed())
    assert cli("jobs", "list", "--status", "DEAD") == 0
    out = capsys.readouterr().out
    assert "DEAD=1" in out and "job_1" in out and "order-not-found" in out
    assert cli("jobs", "retry", "job_1") == 0
    assert cli("jobs", "retry", "job_1") == 1  # not dead any more
    assert "only DEAD" in capsys.readouterr().err
    assert cli("worker", "--once") == 0
    assert "processed 1 message(s)" in capsys.readouterr().out

    async def status() -> MessageStatus:
        async with cli_common.open_services(settings) as svc:
            return (await svc.store.inbox.get("job_1")).status

    assert asyncio.run(status()) is MessageStatus.DEAD  # the undecodable payload is dead again, not lost


def test_jobs_purge_deletes_old_done_jobs_and_keys_but_never_dead_or_recent_ones(cli, capsys, tmp_path):
    from datetime import timedelta

    from drexfy.domain.ports import IdempotentResponse

    settings = load_settings(overrides={"data_dir": str(tmp_path)})

    async def seed() -> None:
        async with cli_common.open_services(settings) as svc:
            now = svc.clock.now()
            for job, age_days, outcome in (("old_done", 40, "done"), ("old_dead", 40, "dead"), ("new_done", 1, "done")):
                created = now - timedelta(days=age_days)
                await svc.store.inbox.add(QueuedMessage(job, f"k_{job}", "payment.event", {}, created))
                await svc.store.inbox.claim(now, 1, 60)
                if outcome == "done":
                    await svc.store.inbox.complete(job)
                else:
                    await svc.store.inbox.dead(job, "boom")
            await svc.store.idempotency.put(IdempotentResponse("s", "old", "h", 201, {}, now - timedelta(days=4)))
            await svc.store.idempotency.put(IdempotentResponse("s", "new", "h", 201, {}, now - timedelta(hours=1)))

    asyncio.run(seed())
    assert cli("jobs", "purge") == 0
    assert (
        "purged 1 inbox and 0 outbox DONE jobs older than 30 days, 1 Idempotency-Key records" in capsys.readouterr().out
    )

    async def left() -> tuple[set[str], bool, bool]:
        async with cli_common.open_services(settings) as svc:
            jobs = {m.id for m in await svc.store.inbox.list()}
            return (
                jobs,
                await svc.store.idempotency.get("s", "old") is None,
                await svc.store.idempotency.get("s", "new") is not None,
            )

    assert asyncio.run(left()) == ({"old_dead", "new_done"}, True, True)
    assert cli("jobs", "purge", "--done-days", "-1") == 2


def test_demo_http_drives_the_whole_surface():
    out = io.StringIO()
    assert asyncio.run(demo_http.run_demo_http(ledger="memory", out=out)) == 0
    text = out.getvalue()
    assert "HTTP 202; redelivered -> HTTP 200 (duplicate)" in text
    assert "order SETTLED" in text
    assert "investor BLOCKED" in text
    assert "officer-ana asked to unblock: approval PENDING" in text
    assert "unblocked -> CLEAR" in text


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, process: Any, seconds: float = 30) -> int:
    """The status `url` answers once `process` listens; fails at once, with its output, if it exits."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"{process.args} exited with {process.returncode}:\n{out}\n{err}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_serve_and_worker_start_answer_and_stop_on_sigterm(tmp_path, anvil_ledger):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from drexfy.adapters.webhooks import sandbox

    env = {**os.environ, **anvil_ledger}  # API and worker share the node and the deployment
    port, metrics_port = _free_port(), _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "drexfy.entrypoints.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "drexfy.entrypoints.cli", "worker", "--metrics-port", str(metrics_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_http(f"http://127.0.0.1:{port}/ready", serve) == 200
        assert _wait_http(f"http://127.0.0.1:{metrics_port}/health", worker) == 200
        secrets = json.loads((tmp_path / runtime_settings.SECRETS_FILE).read_text())
        body = sandbox.stripe_event("evt_cli", "payment_intent.succeeded", order_id="ord_none", amount_minor=1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/payments",
            data=body,
            headers=sandbox.stripe_headers(body, secrets["stripe_webhook_secret"]),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        # the separate worker process takes the job (the order does not exist: it is parked)
        import time

        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
                text = response.read().decode()
            if sample(text, "drexfy_jobs_processed_total", outcome="parked", queue="inbox") == 1:
                break
            time.sleep(0.2)
        assert sample(text, "drexfy_jobs_processed_total", outcome="parked", queue="inbox") == 1
    finally:
        for process in (serve, worker):
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30) for process in (serve, worker)]
    assert serve.returncode == 0 and worker.returncode == 0, outputs
    out, err = outputs[0]
    assert f"listening on http://127.0.0.1:{port}" in out
    assert secrets["stripe_webhook_secret"] in out  # embedded mode prints the sandbox signing secrets
    # each under its own name: the AML webhook is signed with its own secret, not the KYC one
    assert f"AML webhook HMAC (X-Payload-Digest on /webhooks/aml): {secrets['aml_webhook_secret']}" in out
    assert f"KYC webhook HMAC (X-Payload-Digest on /webhooks/kyc): {secrets['kyc_webhook_secret']}" in out
    assert secrets["jwt_secret"] not in out + err  # but never the token signing key
    assert all(json.loads(line)["level"] for line in err.splitlines() if line.startswith("{"))


def test_reconcile_prints_each_instrument_and_exits_1_on_drift(anvil_ledger, capsys):
    """On a real chain: a settled purchase is in sync; a store position the chain does not have
    is drift (exit 1, the investor named); an unknown instrument is a clear error (exit 2)."""
    from drexfy.entrypoints.cli import main
    from tests.support.scenarios import buy, instrument, onboard

    assert main(["reconcile"]) == 0
    assert "no instrument is issued" in capsys.readouterr().out

    async def seed(drift: bool) -> tuple[str, str]:
        async with cli_common.open_services(load_settings()) as svc:
            if not drift:
                investor_id = await onboard(svc, "rhea")
                instrument_id = await instrument(svc)
                await buy(svc, investor_id, instrument_id, 3)
                return investor_id, instrument_id
            async with svc.store.unit_of_work() as uow:
                (investor,) = await uow.investors.list()
                (pool,) = await uow.instruments.list()
                await uow.positions.add_units(investor.id, pool.id, 2)  # books the chain never saw
                await uow.instruments.reserve_units(pool.id, 4)  # units held by no order (a crash)
                await uow.commit()
            return investor.id, pool.id

    investor_id, instrument_id = asyncio.run(seed(drift=False))
    assert main(["reconcile"]) == 0
    assert f"RCV1 ({instrument_id}): ledger 3 units, store 3: in sync" in capsys.readouterr().out

    asyncio.run(seed(drift=True))
    assert main(["reconcile", "--instrument", instrument_id]) == 1
    out = capsys.readouterr().out
    assert "ledger 3 units, store 5: DRIFT at 1 address(es) and in reservations" in out
    assert f"({investor_id}): ledger 3, store 5" in out
    assert "reservations: 4 units reserved, open orders hold 0" in out
    assert main(["reconcile", "--json"]) == 1
    (report,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert report["in_sync"] is False and report["drift"][0]["investor_id"] == investor_id
    assert (report["units_reserved"], report["reserved_by_orders"]) == (4, 0)
    assert main(["reconcile", "--instrument", "ins_missing"]) == 2
    assert "ins_missing" in capsys.readouterr().err


@pytest.mark.parametrize("ledger", ["memory", "evm"])
def test_a_ledger_living_in_the_process_refuses_a_store_left_with_ledger_state(tmp_path, ledger):
    """The embedded EVM (and the memory ledger) start empty every run. Restarting on a data dir whose
    store recorded issued instruments would point at contracts that no longer exist: refused at
    start-up with the way out, while a store with nothing on the ledger yet starts as usual."""
    from drexfy.domain import processes as p
    from drexfy.domain.errors import ConfigurationError
    from drexfy.domain.model import InvestorKind
    from tests.support.scenarios import instrument

    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path), "ledger.kind": ledger})

    async def register_only() -> None:
        async with cli_common.open_services(settings) as svc:
            await p.register_investor(svc, p.RegisterInvestor("Ada", "ada@example.com", "DE", InvestorKind.INDIVIDUAL))

    async def issue() -> None:
        async with cli_common.open_services(settings) as svc:
            await instrument(svc)

    asyncio.run(register_only())
    asyncio.run(issue())  # a registered investor is no ledger state: this run starts
    with pytest.raises(ConfigurationError) as refused:
        asyncio.run(issue())
    assert "instrument RCV1" in refused.value.message and "fresh data_dir" in refused.value.message
    assert str(tmp_path) in refused.value.message


def test_repayments_trigger_queues_the_job_and_status_draws_the_progress(anvil_ledger, capsys):
    """An operator starts a repayment from the command line; a worker (here `drexfy worker --once`)
    pays it; `status` shows the progress bar before and after."""
    from drexfy.entrypoints.cli import main
    from tests.support.scenarios import buy, instrument, onboard

    async def seed() -> str:
        async with cli_common.open_services(load_settings()) as svc:
            investor_id = await onboard(svc, "rena")
            instrument_id = await instrument(svc)
            await buy(svc, investor_id, instrument_id, 3)
            return str(instrument_id)

    instrument_id = asyncio.run(seed())
    argv = ["repayments", "trigger", "--instrument", instrument_id, "--period", "2026-11", "--interest", "12.34"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "requested; the worker snapshots the holders and pays it" in out
    assert "[------------------------------]   0%  waiting for the worker's snapshot of the holders  (REQUESTED)" in out
    repayment_id = out.split()[1]
    assert main(["repayments", "status", repayment_id]) == 0
    assert "(REQUESTED)" in capsys.readouterr().out

    assert main(["worker", "--once"]) == 0
    capsys.readouterr()
    assert main(["repayments", "status", repayment_id, "--follow"]) == 0
    done = capsys.readouterr().out
    assert (
        "[##############################] 100%  1/1 holders paid, 0 held back, 0 pending  (COMPLETED, 12.34 EUR" in done
    )

    assert main(argv) == 2  # the period was repaid: refused, named
    assert "already has a repayment for period 2026-11" in capsys.readouterr().err
    assert main(["repayments", "status", "rep_missing"]) == 2

    # What only the snapshot finds ends the repayment FAILED, with the reason, in `status` (exit 1).
    too_much = [*argv[:5], "2026-12", "--interest", "0", "--principal", "1000000.00"]
    assert main(too_much) == 0
    failed_id = capsys.readouterr().out.split()[1]
    assert main(["worker", "--once"]) == 0
    capsys.readouterr()
    assert main(["repayments", "status", failed_id]) == 1
    assert "FAILED: principal retires" in capsys.readouterr().out
