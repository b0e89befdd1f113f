"""How settings are type-checked: bounds declared beside a setting's type, and a strict cattrs
converter that structures the merged file, environment and overrides into the attrs sections of
`config_schema`.

Strict like the request bodies' converter (`http.validation`, kept apart so the configuration does not
import the HTTP package): "30" is not an integer, 978 is not a string, 2.5 is not an integer, 1 is not
a boolean; an integer is a number of seconds. Every error names the setting (`ledger.evm.chain_id`).
Environment variables are text: `from_env` turns one into its setting's declared type first.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from drexfy.domain.bounds import is_text
from drexfy.domain.errors import ConfigurationError

#: Longest text setting (URLs, secrets, paths).
MAX_SETTING_TEXT = 4096


@attrs.frozen
class Range:
    """Numeric bounds of a setting: `low` and `high` inclusive, `above` exclusive."""

    low: float | None = None
    high: float | None = None
    above: float | None = None

    def check(self, value: float) -> None:
        if self.above is not None and not value > self.above:
            raise ValueError(f"must be greater than {self.above:g}, got {value!r}")
        if self.low is not None and value < self.low:
            raise ValueError(f"must be at least {self.low:g}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ValueError(f"must be at most {self.high:g}, got {value!r}")


@attrs.frozen
class OneOf:
    """The values a text setting may take."""

    choices: tuple[str, ...]

    def check(self, value: str) -> None:
        if value not in self.choices:
            raise ValueError(f"unknown value {value!r} (expected one of {', '.join(self.choices)})")


@attrs.frozen
class Matches:
    """A regular expression the whole text must match, and what it means (for the message)."""

    pattern: str
    means: str

    def check(self, value: str) -> None:
        if not re.fullmatch(self.pattern, value):
            raise ValueError(f"expected {self.means}, got {value!r}")


Check = Range | OneOf | Matches

#: A TCP port.
Port = Annotated[int, Range(low=1, high=65535)]
#: An ISO 4217 currency code.
Currency = Annotated[str, Matches(r"[A-Z]{3}", "a three-letter ISO 4217 code such as EUR")]
#: Text items: a TOML array of strings, or one comma-separated string (environment friendly).
TextList = tuple[str, ...]


def checks_of(tp: Any) -> tuple[Any, tuple[Check, ...]]:
    """(the base type, its checks) of `Annotated[base, check...]`; (tp, ()) otherwise."""
    if typing.get_origin(tp) is Annotated:
        base, *meta = typing.get_args(tp)
        return base, tuple(m for m in meta if isinstance(m, Range | OneOf | Matches))
    return tp, ()


# -- the converter ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), "a table" if isinstance(value, dict) else type(value).__name__)


def _int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_kind(value)}")
    return value


def _float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_kind(value)}")
    if len(value) > MAX_SETTING_TEXT or not is_text(value):
        raise ValueError(f"expected text of at most {MAX_SETTING_TEXT} characters")
    return value


def _bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_kind(value)}")
    return value


def _text_list(value: Any, _: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(f"expected an array of strings or a comma-separated string, got {_kind(value)}")
    return tuple(_str(item, str).strip() for item in items if _str(item, str).strip())


def _annotated(tp: Any) -> Callable[[Any, Any], Any]:
    base, checks = checks_of(tp)

    def hook(value: Any, _: Any) -> Any:
        out = converter.structure(value, base)
        for check in checks:
            check.check(out)
        return out

    return hook


def _structure_dict(tp: Any) -> Callable[[Any, Any], Any]:
    key_type, value_type = typing.get_args(tp)

    def hook(value: Any, _: Any) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"expected a table, got {_kind(value)}")
        out, errors = {}, []
        for key, item in value.items():
            try:
                out[converter.structure(key, key_type)] = converter.structure(item, value_type)
            except ValueError as exc:
                errors.append(f"{key!r}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return out

    return hook


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(int, _int)
converter.register_structure_hook(float, _float)
converter.register_structure_hook(str, _str)
converter.register_structure_hook(bool, _bool)
converter.register_structure_hook_func(lambda t: t == TextList, _text_list)


def _origin_is(origin: Any) -> Callable[[Any], bool]:
    return lambda tp: bool(typing.get_origin(tp) is origin)


converter.register_structure_hook_factory(_origin_is(dict), _structure_dict)
converter.register_structure_hook_factory(_origin_is(Annotated), _annotated)
converter.register_unstructure_hook(tuple, list)


def _format(exc: BaseException, tp: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        return "unknown setting(s): " + ", ".join(sorted(exc.extra_fields))
    if isinstance(exc, TypeError | AttributeError):
        return "expected a table" if attrs.has(tp) else "invalid value"
    return str(exc) or "invalid value"


T = typing.TypeVar("T")


def structure(data: dict[str, Any], model: type[T], sources: dict[str, str]) -> T:
    """`data` as `model`, or a ConfigurationError naming each ill-typed setting (and the
    environment variable it came from, if it did)."""
    try:
        return converter.structure(data, model)
    except (cattrs.BaseValidationError, ForbiddenExtraKeysError) as exc:
        problems = []
        for line in cattrs.transform_error(exc, path="$", format_exception=_format):
            message, _, where = line.rpartition(" @ ")
            dotted = where.removeprefix("$").removeprefix(".")
            source = sources.get(dotted)
            problems.append(f"{dotted or 'settings'}: {message}" + (f" (from {source})" if source else ""))
        raise ConfigurationError("; ".join(problems)) from None


# -- environment variables ----------------------------------------------------------------------


def from_env(tp: Any, text: str, setting: str, source: str) -> Any:
    """An environment variable's text as a value of its setting's declared type (checked after)."""
    base, _ = checks_of(tp)

    def refuse(expected: str) -> ConfigurationError:
        return ConfigurationError(f"{setting}: expected {expected}, got {text!r} (from {source})")

    if base is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise refuse("true or false")
    if base is int:
        try:
            return int(text.strip())
        except ValueError:
            raise refuse("an integer") from None
    if base is float:
        try:
            return float(text.strip())
        except ValueError:
            raise refuse("a number") from None
    if typing.get_origin(base) is dict:
        # "CH=EU,SG=EU"
        pairs = [p for p in text.split(",") if p.strip()]
        if not all("=" in p for p in pairs):
            raise refuse("KEY=VALUE pairs separated by commas")
        return {k.strip().upper(): v.strip().upper() for k, v in (p.split("=", 1) for p in pairs)}
    if attrs.has(base):
        raise ConfigurationError(f"{setting}: is a section; set its keys ({source}__KEY)")
    return text  # text, and comma-separated lists (the converter splits them)
