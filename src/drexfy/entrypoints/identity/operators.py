"""The local operator store: people with a stable id, argon2id passwords and a TOTP second factor.

The embedded default for deployments without an OpenID Connect provider (docs/http.md). An operator
has a name (unique, for signing in), a stable id (`opr_...`, the `sub` of their tokens and the actor
of what they do), one or more roles among admin, compliance and auditor, a password hashed with
argon2id (argon2-cffi's RFC 9106 profile) and a TOTP secret (RFC 6238, 30 s steps, 6 digits; pyotp).

The TOTP secret is stored sealed by the key vault (`KeyVault.seal`, purpose `totp:<operator id>`:
AES-256-GCM under a key derived from the local vault's master key, or KMS `Encrypt` with an
encryption context), never in clear: someone who reads the store (a backup, a DynamoDB export) gets
password hashes but no second factor. Records written before sealing (`totp_secret` in clear) are
sealed the first time they are read (sign-in, `drexfy operators list`), by a conditional replace.

Signing in checks the password and the code; a code is accepted once (a replayed code within its
window is refused). Failures are counted per name, whether the name exists or not, so the answers
never tell whether an operator exists: after `max_failures` consecutive failures the name is locked
for `lockout`, doubling with each further failure up to `max_lockout`. Secrets and passwords are
never logged, returned or put in an error message; the TOTP secret is shown once, at enrolment.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from drexfy.domain.errors import Conflict, DomainError, DuplicateEntity, NotFound, ValidationFailed
from drexfy.domain.ports import AccessRecord, AccessRecords, Clock, IdGenerator, KeyVault

if TYPE_CHECKING:
    from drexfy.domain.processes import Services
    from drexfy.entrypoints.runtime.access import AccessSettings

KIND = "operator"
NAME_KIND = "operator-name"
FAILURES_KIND = "sign-in"
OPERATOR_ROLES = ("admin", "compliance", "auditor")
MIN_PASSWORD = 12
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown names, so they cost as much time as known ones. Made on first
    use, not at import: an argon2id hash takes 0.1 s or more, which every process start would pay."""
    return _HASHER.hash("not a password of anyone")


class OperatorNotFound(NotFound):
    """No such operator."""

    code = "operator-not-found"


class SignInFailed(DomainError):
    """The name, password or code is wrong."""

    code = "sign-in-failed"


class SignInLocked(DomainError):
    """Too many failed sign-ins; try again later."""

    code = "sign-in-locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} seconds")
        self.retry_after = retry_after


@attrs.frozen
class Operator:
    id: str
    name: str
    roles: tuple[str, ...]
    created_at: datetime
    password_hash: str = attrs.field(repr=False)
    #: The TOTP secret sealed by the vault (base64), see the module docstring.
    totp_sealed: str = attrs.field(repr=False)
    disabled: bool = False
    #: The last TOTP time step accepted (a code is good once).
    last_step: int = -1

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "created_at": self.created_at.isoformat(),
            "password_hash": self.password_hash,
            "totp_sealed": self.totp_sealed,
            "disabled": self.disabled,
            "last_step": self.last_step,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Operator:
        return cls(
            id=data["id"],
            name=data["name"],
            roles=tuple(data["roles"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            password_hash=data["password_hash"],
            totp_sealed=data["totp_sealed"],
            disabled=bool(data["disabled"]),
            last_step=int(data["last_step"]),
        )

    def public(self) -> dict[str, Any]:
        """What may be shown: never the hash or the secret."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }


@attrs.frozen
class Enrolled(Operator):
    """The answer to enrolment: the operator and, this once, the TOTP secret in clear."""

    totp_secret: str = attrs.field(default="", repr=False)


LEGACY_SECRET = "totp_secret"  # the clear field of records written before sealing


def normalise_name(name: str) -> str:
    cleaned = name.strip().lower()
    if not 1 <= len(cleaned) <= 64 or not set(cleaned) <= _NAME_CHARS:
        raise ValidationFailed("an operator name is 1 to 64 of a-z, 0-9, '.', '_', '-', '@'")
    return cleaned


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(roles))
    if not chosen or any(r not in OPERATOR_ROLES for r in chosen):
        raise ValidationFailed(f"an operator's roles are among {', '.join(OPERATOR_ROLES)}")
    return chosen


def totp_code(secret: str, at: datetime) -> str:
    """The code an authenticator app shows at `at` (tests and enrolment checks)."""
    return pyotp.TOTP(secret).at(at)


@attrs.define
class OperatorDirectory:
    access: AccessRecords
    clock: Clock
    ids: IdGenerator
    vault: KeyVault
    max_failures: int = 5
    lockout: timedelta = timedelta(seconds=60)
    max_lockout: timedelta = timedelta(hours=1)

    async def add(self, name: str, roles: Iterable[str], password: str) -> Enrolled:
        """Enrol an operator; the TOTP secret is in the answer (show it once, then forget it)."""
        name = normalise_name(name)
        chosen = check_roles(roles)
        if len(password) < MIN_PASSWORD or len(password) > 1024:
            raise ValidationFailed(f"a password has {MIN_PASSWORD} to 1024 characters")
        operator_id = self.ids.new("opr")
        secret = pyotp.random_base32()
        operator = Enrolled(
            id=operator_id,
            name=name,
            roles=chosen,
            created_at=self.clock.now(),
            password_hash=await asyncio.to_thread(_HASHER.hash, password),
            totp_sealed=await self._seal(operator_id, secret),
            totp_secret=secret,
        )
        if not await self.access.create(NAME_KIND, name, {"operator_id": operator.id}):
            raise DuplicateEntity(f"an operator named {name} exists")
        await self.access.create(KIND, operator.id, operator.data())
        return operator

    async def _seal(self, operator_id: str, secret: str) -> str:
        sealed = await self.vault.seal(f"totp:{operator_id}", secret.encode())
        return base64.b64encode(sealed).decode()

    async def _totp_secret(self, operator: Operator) -> str:
        sealed = base64.b64decode(operator.totp_sealed)
        return (await self.vault.unseal(f"totp:{operator.id}", sealed)).decode()

    async def _operator(self, record: AccessRecord) -> Operator:
        """The operator of a stored record, sealing a clear secret of an older record first."""
        while LEGACY_SECRET in record.data:
            data = {k: v for k, v in record.data.items() if k != LEGACY_SECRET}
            data["totp_sealed"] = await self._seal(record.id, str(record.data[LEGACY_SECRET]))
            if await self.access.replace(KIND, record.id, data, record.version):
                return Operator.of(data)
            again = await self.access.get(KIND, record.id)  # changed meanwhile: seal what is there now
            if again is None:
                raise OperatorNotFound("No such operator.")
            record = again
        return Operator.of(record.data)

    async def get(self, operator_id: str) -> Operator:
        stored = await self.access.get(KIND, operator_id)
        if stored is None:
            raise OperatorNotFound("No such operator.")
        return await self._operator(stored)

    async def find(self, name_or_id: str) -> Operator:
        if name_or_id.startswith("opr_"):
            return await self.get(name_or_id)
        try:
            name = normalise_name(name_or_id)
        except ValidationFailed:
            raise OperatorNotFound("No such operator.") from None
        entry = await self.access.get(NAME_KIND, name)
        if entry is None:
            raise OperatorNotFound("No such operator.")
        return await self.get(entry.data["operator_id"])

    async def list(self) -> list[Operator]:
        found: list[Operator] = []
        after: str | None = None
        while True:
            page = await self.access.list(KIND, after=after, limit=200)
            found += [await self._operator(r) for r in page]
            if len(page) < 200:
                return found
            after = page[-1].id

    async def _change(self, operator_id: str, change: Any) -> Operator:
        for _ in range(5):
            stored = await self.access.get(KIND, operator_id)
            if stored is None:
                raise OperatorNotFound("No such operator.")
            changed: Operator = change(await self._operator(stored))
            if await self.access.replace(KIND, operator_id, changed.data(), stored.version):
                return changed
        raise Conflict("the operator record kept changing; retry")

    async def disable(self, operator_id: str) -> Operator:
        return await self._change(operator_id, lambda o: attrs.evolve(o, disabled=True))

    async def grant(self, operator_id: str, role: str) -> Operator:
        check_roles([role])
        return await self._change(operator_id, lambda o: attrs.evolve(o, roles=check_roles([*o.roles, role])))

    # -- signing in --------------------------------------------------------------------------

    async def sign_in(self, name: str, password: str, code: str, role: str | None = None) -> tuple[Operator, str]:
        """The operator and the role they act in, or SignInFailed / SignInLocked (same answers for
        a known and an unknown name)."""
        key = name.strip().lower()[:64] or "-"
        now = self.clock.now()
        counter = await self.access.get(FAILURES_KIND, key)
        if counter is not None:
            locked_until = counter.data.get("locked_until")
            if locked_until and datetime.fromisoformat(locked_until) > now:
                wait = datetime.fromisoformat(locked_until) - now
                raise SignInLocked(max(1, int(wait.total_seconds() + 0.999)))
        operator = await self._verified(key, password, code, now)
        if operator is None or operator.disabled or (role is not None and role not in operator.roles):
            await self._count_failure(key, now)
            raise SignInFailed("the name, password or code is wrong")
        if counter is not None and counter.data.get("failures"):
            await self.access.replace(FAILURES_KIND, key, {"failures": 0, "locked_until": None}, counter.version)
        return operator, role or operator.roles[0]

    async def _verified(self, key: str, password: str, code: str, now: datetime) -> Operator | None:
        try:
            operator = await self.find(key)
        except OperatorNotFound:
            await asyncio.to_thread(_password_ok, await asyncio.to_thread(_dummy_hash), password)
            return None
        if not await asyncio.to_thread(_password_ok, operator.password_hash, password):
            return None
        step = _matching_step(await self._totp_secret(operator), code, now)
        if step is None or step <= operator.last_step:
            return None  # wrong, or a code already used (replay)
        try:
            return await self._change(operator.id, lambda o: _use_step(o, step))
        except _Replayed:
            return None

    async def _count_failure(self, key: str, now: datetime) -> None:
        for _ in range(5):
            stored = await self.access.get(FAILURES_KIND, key)
            failures = (int(stored.data.get("failures", 0)) if stored else 0) + 1
            locked_until = None
            if failures >= self.max_failures:
                wait = min(self.lockout * 2 ** (failures - self.max_failures), self.max_lockout)
                locked_until = (now + wait).isoformat()
            data = {"failures": failures, "locked_until": locked_until}
            if stored is None:
                if await self.access.create(FAILURES_KIND, key, data):
                    return
            elif await self.access.replace(FAILURES_KIND, key, data, stored.version):
                return


class _Replayed(Exception):
    pass


def _use_step(operator: Operator, step: int) -> Operator:
    if step <= operator.last_step:  # another sign-in with the same code got there first
        raise _Replayed
    return attrs.evolve(operator, last_step=step)


def _password_ok(password_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (±1 for clock drift, RFC 6238 section 5.2) whose code is `code`."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def operator_directory(services: Services, access: AccessSettings) -> OperatorDirectory:
    """The operator directory of `services`, with the sign-in limits of `access` (the API and the
    commands that sign a person in use the same)."""
    return OperatorDirectory(
        services.store.access,
        services.clock,
        services.ids,
        services.vault,
        max_failures=access.signin_max_failures,
        lockout=timedelta(seconds=access.signin_lockout_s),
        max_lockout=timedelta(seconds=access.signin_max_lockout_s),
    )
