"""The fault harness: the platform as an operator runs it, under the faults that lost money before.

One anvil node mining a block every `block_time` seconds (a slow chain), or the XRPL ledger double
closing a ledger as often (`ledger = "xrpl"`), `drexfy serve --no-worker`
and `drexfy worker` as separate processes over one SQLite store, investors onboarded and paying
through signed webhooks, several orders each. While settlements are in flight the harness:

- kills the worker with SIGKILL at moments timed on the journal (a ledger operation claimed or
  signed and not confirmed yet), and starts a new one;
- stops the chain from mining for longer than the receipt timeout, then lets it mine again;
- hangs the node (SIGSTOP) for a few seconds, then lets it go on.

The store is SQLite or DynamoDB (moto in server mode); everything is read as an operator would,
through the API and `/metrics`.

Then it waits for every paid order to end and reports what an operator and an auditor would check:
orders paid, settled, refunded (with reasons), units on chain against units ordered (a duplicate
settlement would show as more), the longest time no order settled after the last fault, and
`drexfy reconcile`. `make soak` runs it large (`python -m tests.soak`); `make test` runs it small.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from drexfy.adapters.webhooks import sandbox
from drexfy.entrypoints.http import issue_token
from tests.soak.xrpl_node import XrplNode
from tests.support.anvil import AnvilNode, start_anvil
from tests.support.moto import AWS_ENV, MotoServer

ROOT = Path(__file__).resolve().parents[2]


@attrs.frozen
class SoakConfig:
    investors: int = 4
    orders_per_investor: int = 2
    #: Worker kills timed on in-flight ledger operations.
    kills: int = 3
    block_time: float = 1.0
    #: How long the chain stops mining once (longer than `receipt_timeout`).
    halt_s: float = 6.0
    #: How long the node hangs once (SIGSTOP: connections accepted, never answered).
    hang_s: float = 5.0
    receipt_timeout: float = 3.0
    #: "sqlite", or "dynamodb" (moto in server mode).
    store: str = "sqlite"
    #: "evm" (anvil), or "xrpl" (the ledger double as a process, ledgers closed every `block_time`).
    ledger: str = "evm"
    #: How long the harness waits for every paid order to end after the last fault.
    settle_within_s: float = 120.0


@attrs.define
class SoakReport:
    orders: int = 0
    paid: int = 0
    settled: int = 0
    refunded: dict[str, int] = attrs.field(factory=dict)
    unfinished: int = 0
    duplicates: int = 0
    kills: int = 0
    max_stall_s: float = 0.0
    reconcile_exit: int | None = None
    reconcile_output: str = ""
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        refunded = sum(self.refunded.values())
        return [
            f"orders {self.orders}, paid {self.paid}, settled {self.settled},"
            f" refunded {refunded} {dict(self.refunded) or ''}, unfinished {self.unfinished}",
            f"duplicates {self.duplicates}, worker kills {self.kills},"
            f" longest stall after the last fault {self.max_stall_s:.1f} s",
            f"reconcile: exit {self.reconcile_exit}: {self.reconcile_output.strip()}",
            f"wall time {self.wall_s:.1f} s",
        ]


class Platform:
    """The node, the API process and the worker process of one run."""

    def __init__(self, directory: Path, config: SoakConfig) -> None:
        self.directory = directory
        self.config = config
        self.node: AnvilNode | XrplNode
        if config.ledger == "xrpl":
            self.node = XrplNode(close_every=config.block_time)
        else:
            self.node = start_anvil(extra_args=("--block-time", str(config.block_time)))
        self.moto: MotoServer | None = None
        store_env: dict[str, str] = {}
        if config.store == "dynamodb":
            self.moto = MotoServer()
            self.moto.start()
            store_env = {
                **AWS_ENV,
                "DREXFY_STORE__KIND": "dynamodb",
                "DREXFY_STORE__DYNAMODB__ENDPOINT_URL": self.moto.endpoint,
                "DREXFY_STORE__DYNAMODB__REGION": AWS_ENV["AWS_DEFAULT_REGION"],
                "DREXFY_STORE__DYNAMODB__TABLE": "drexfy-soak",
                "DREXFY_STORE__DYNAMODB__CREATE_TABLE": "true",
                "DREXFY_PROCESSES__DISTRIBUTION_BATCH_SIZE": "45",
            }
        self.env = {
            **store_env,
            **os.environ,
            "DREXFY_DATA_DIR": str(directory),
            **self._ledger_env(),
            "DREXFY_LEDGER__EVM__RECEIPT_TIMEOUT_S": str(config.receipt_timeout),
            "DREXFY_LEDGER__EVM__BLOCK_TIME_S": str(config.block_time),
            "DREXFY_LEDGER__EVM__POLL_INTERVAL_S": "0.2",
            "DREXFY_LEDGER__EVM__KEEPER_GRACE_S": "2",
            "DREXFY_WORKER__LEDGER_KEEPER_EVERY": "1",
            # A killed worker's settlement lease runs out after this long (the longest stall a crash causes).
            "DREXFY_PROCESSES__SETTLEMENT_LEASE_S": "10",
            "DREXFY_WORKER__BASE_DELAY": "0.3",
            "DREXFY_WORKER__MAX_DELAY": "3",
            "DREXFY_WORKER__MAX_ATTEMPTS": "60",
            "DREXFY_WORKER__LEASE_SECONDS": "6",
            "DREXFY_WORKER__POLL_INTERVAL": "0.1",
            "DREXFY_LOG_LEVEL": "WARNING",
        }
        self.port = _free_port()
        self.api_process: subprocess.Popen[bytes] | None = None
        self.worker_process: subprocess.Popen[bytes] | None = None
        self._logs: list[Any] = []

    def _ledger_env(self) -> dict[str, str]:
        if isinstance(self.node, XrplNode):
            return {
                "DREXFY_LEDGER__KIND": "xrpl",
                "DREXFY_LEDGER__XRPL__RPC_URL": self.node.url,
                # A job whose transaction is not validated yet comes back after one close.
                "DREXFY_LEDGER__XRPL__CLOSE_TIME_S": str(self.config.block_time),
            }
        return {
            "DREXFY_LEDGER__KIND": "evm",
            "DREXFY_LEDGER__EVM__RPC_URL": self.node.url,
            "DREXFY_LEDGER__EVM__CHAIN_ID": str(self.node.chain_id),
        }

    def halt_chain(self) -> None:
        """The chain stops producing blocks (ledgers) while nobody works."""
        if isinstance(self.node, XrplNode):
            self.node.halt()
        else:
            self.node.rpc("evm_setIntervalMining", 0)

    def resume_chain(self) -> None:
        if isinstance(self.node, XrplNode):
            self.node.resume()
        else:
            self.node.rpc("evm_setIntervalMining", int(max(1, self.config.block_time)))

    # -- processes ----------------------------------------------------------------------------------

    def _drexfy(self, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{argv[0]}-{len(self._logs)}.log").open("wb")
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "drexfy.entrypoints.cli", *argv],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        setup = ("xrpl", "setup", "--fund-from-genesis") if self.config.ledger == "xrpl" else ("contracts", "deploy")
        deploy = subprocess.run(
            [sys.executable, "-m", "drexfy.entrypoints.cli", *setup],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
        assert deploy.returncode == 0, deploy.stderr.decode()[-2000:]
        self.api_process = self._drexfy("serve", "--no-worker", "--port", str(self.port))
        self.start_worker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.base}/health", timeout=2)
                return
            time.sleep(0.2)
        raise RuntimeError("the API did not start")

    def hang_node(self, seconds: float) -> None:
        """SIGSTOP the node (requests hang, nothing answers), then SIGCONT it."""
        pid = self.node._proc.pid if self.node._proc is not None else None
        assert pid is not None
        os.killpg(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.killpg(pid, signal.SIGCONT)

    def start_worker(self) -> None:
        self.worker_process = self._drexfy("worker")

    def kill_worker(self) -> None:
        assert self.worker_process is not None
        self.worker_process.send_signal(signal.SIGKILL)
        self.worker_process.wait(timeout=10)

    def stop(self) -> None:
        for process in (self.worker_process, self.api_process):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in self._logs:
            log.close()
        self.node.stop()
        if self.moto is not None:
            self.moto.stop()

    # -- the wire -----------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def secrets(self) -> dict[str, str]:
        return dict(json.loads((self.directory / "http-secrets.json").read_text()))

    def api(self, method: str, path: str, role: str, body: Any = None, investor_id: str | None = None) -> Any:
        token = issue_token(self.secrets["jwt_secret"], role, investor_id=investor_id)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def webhook(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(self.base + path, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 202), response.status

    # -- what an operator sees (the API and /metrics: the same for every store) ---------------------

    def gauges(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=30) as response:
            text = response.read().decode()
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line.split()[0]
        }

    def operation_in_flight(self) -> bool:
        """A ledger operation claimed or signed and not confirmed: the moment to kill the worker."""
        gauges = self.gauges()
        return bool(
            gauges.get("drexfy_ledger_unconfirmed_transactions") or gauges.get("drexfy_relayer_unsigned_claims")
        )

    def order_states(self, investors: list[str]) -> dict[str, tuple[str, str | None, int]]:
        """Order id -> (status, reason, units), as the frontend reads them."""
        states = {}
        for investor_id in investors:
            for order in self.api("GET", f"/api/v1/investors/{investor_id}/orders", "frontend")["items"]:
                states[order["id"]] = (order["status"], order["reason"], int(order["units"]))
        return states


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def platform(directory: Path, config: SoakConfig) -> Iterator[Platform]:
    running = Platform(directory, config)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _wait(predicate: Any, within: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def onboard(run: Platform, n: int) -> list[str]:
    """Register `n` investors, run their KYC by signed webhook; wait until they are active."""
    ids = []
    for i in range(n):
        body = {
            "legal_name": f"Soak Investor {i}",
            "email": f"soak{i}@example.com",
            "country": "DE",
            "kind": "INDIVIDUAL",
            "declared_accredited": True,
        }
        investor = run.api("POST", "/api/v1/investors", "frontend", body)
        kyc = run.api("POST", f"/api/v1/investors/{investor['id']}/kyc", "frontend")
        review = sandbox.kyc_review(kyc["applicant_id"], country="DE", accredited=True)
        run.webhook("/webhooks/kyc", review, sandbox.digest_headers(review, run.secrets["kyc_webhook_secret"]))
        ids.append(investor["id"])
    for investor_id in ids:
        active = _wait(
            lambda i=investor_id: run.api("GET", f"/api/v1/investors/{i}", "admin")["status"] == "ACTIVE", 120
        )
        assert active, f"investor {investor_id} was not activated"
    return ids


def open_instrument(run: Platform) -> dict[str, Any]:
    eur = {"currency": "EUR"}
    instrument = run.api(
        "POST",
        "/api/v1/instruments",
        "admin",
        {
            "symbol": "SOAK",
            "name": "Soak SME pool",
            "unit_price": {"minor": 10_000, **eur},
            "total_units": 10_000_000,
            "eligible": ["EU_ACCREDITED", "EU_NON_ACCREDITED"],
            "min_ticket": {"minor": 10_000, **eur},
            "max_ticket": {"minor": 100_000_000, **eur},
        },
    )
    run.api("POST", f"/api/v1/instruments/{instrument['id']}/open", "admin")
    return dict(instrument)


def place_and_pay(
    run: Platform,
    investors: list[str],
    instrument_id: str,
    per_investor: int,
    note_block: bool = False,
    pay_concurrency: int = 1,
    pay_rate: float | None = None,
) -> list[dict[str, Any]]:
    """Each investor orders `per_investor` times; then every order is paid by a signed webhook, an
    investor's orders close together (their permits contend). With `note_block`, each order records
    the chain's block number when its payment webhook was accepted (`paid_at_block`).
    `pay_concurrency` webhooks are sent at once (a payment provider delivers in parallel); with
    `pay_rate`, the n-th is sent no sooner than n / `pay_rate` seconds after the first (a steady
    inflow rather than a burst)."""
    orders: list[dict[str, Any]] = []
    for round_ in range(per_investor):
        for investor_id in investors:
            body = {"investor_id": investor_id, "instrument_id": instrument_id, "units": 1 + (round_ % 3)}
            orders.append(run.api("POST", "/api/v1/orders", "investor", body, investor_id=investor_id))
    secret = run.secrets["stripe_webhook_secret"]

    started = time.monotonic()

    def pay(indexed: tuple[int, dict[str, Any]]) -> None:
        index, order = indexed
        if pay_rate:
            time.sleep(max(0.0, started + index / pay_rate - time.monotonic()))
        body = sandbox.stripe_event(
            f"evt_{order['id']}",
            "payment_intent.succeeded",
            order_id=order["id"],
            amount_minor=order["amount"]["minor"],
        )
        run.webhook("/webhooks/payments", body, sandbox.stripe_headers(body, secret))
        if note_block:
            order["paid_at_block"] = int(run.node.rpc("eth_blockNumber"), 16)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, pay_concurrency)) as pool:
        list(pool.map(pay, enumerate(orders)))
    return orders


def run_soak(directory: Path, config: SoakConfig) -> SoakReport:
    started = time.monotonic()
    report = SoakReport()
    with platform(directory, config) as run:
        investors = onboard(run, config.investors)
        instrument = open_instrument(run)
        orders = place_and_pay(run, investors, instrument["id"], config.orders_per_investor)
        report.orders = report.paid = len(orders)

        # Faults: kills timed on operations in flight, and one halt of the chain.
        halted = False
        for _ in range(config.kills):
            if not _wait(run.operation_in_flight, 30, step=0.02):
                break
            run.kill_worker()
            report.kills += 1
            if not halted:
                run.halt_chain()  # the chain stops while nobody works
                run.start_worker()
                time.sleep(config.halt_s)
                run.resume_chain()
                halted = True
            else:
                run.start_worker()
        if config.hang_s:
            run.hang_node(config.hang_s)

        # Recovery: every order ends; the longest time without a settlement is the stall.
        last_change, last_settled = time.monotonic(), -1
        deadline = time.monotonic() + config.settle_within_s
        while time.monotonic() < deadline:
            states = run.order_states(investors)
            settled = sum(1 for status, _, _ in states.values() if status == "SETTLED")
            if settled != last_settled:
                now = time.monotonic()
                if last_settled >= 0:
                    report.max_stall_s = max(report.max_stall_s, now - last_change)
                last_change, last_settled = now, settled
            if all(status not in ("CREATED", "PAID") for status, _, _ in states.values()):
                break
            time.sleep(0.2)
        states = run.order_states(investors)
        report.settled = sum(1 for status, _, _ in states.values() if status == "SETTLED")
        report.unfinished = sum(1 for status, _, _ in states.values() if status in ("CREATED", "PAID"))
        for status, reason, _ in states.values():
            if status in ("REFUND_DUE", "REFUNDED"):
                key = (reason or "?").split("(")[0][:60]
                report.refunded[key] = report.refunded.get(key, 0) + 1

        # Duplicates: units on chain beyond what the settled orders bought (a second settlement).
        on_chain = run.api("GET", f"/api/v1/instruments/{instrument['id']}/reconciliation", "compliance")
        bought = sum(units for status, _, units in states.values() if status == "SETTLED")
        report.duplicates = max(0, on_chain["ledger_units"] - bought)
        reconcile = subprocess.run(
            [sys.executable, "-m", "drexfy.entrypoints.cli", "reconcile"],
            env=run.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        report.reconcile_exit, report.reconcile_output = reconcile.returncode, reconcile.stdout + reconcile.stderr
    report.wall_s = time.monotonic() - started
    return report
