"""Request bodies: JSON parsed, then structured into attrs models by a strict cattrs converter.

Strict means no silent coercion ("5" is not an integer, 5.0 is not an integer, 1 is not a boolean),
unknown fields are refused, enums are given by name, and strings are bounded and valid Unicode (no
lone surrogates). A field typed `Annotated[int | str, Bounds(...)]` is also checked against its
bounds, which `openapi.py` states in the document, so the document says what is enforced. Every
error names the field it is about (`$.interest.minor`).
"""

from __future__ import annotations

import enum
import json
import re
import typing
from typing import Annotated, Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from drexfy.domain.bounds import MAX_TEXT, is_text
from drexfy.entrypoints.http.problems import Problem

T = TypeVar("T")
MAX_STRING = MAX_TEXT


@attrs.frozen
class Bounds:
    """The bounds of a body field, checked on input and stated in the OpenAPI document."""

    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    #: A regular expression the whole string must match (ECMA-262 compatible, for the document).
    pattern: str | None = None
    #: What the pattern means, for the error message.
    means: str = ""
    enum: tuple[str, ...] = ()

    def check(self, value: Any) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum}")
        if self.enum and value not in self.enum:
            raise ValueError(f"expected one of {', '.join(self.enum)}")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError("must not be empty" if self.min_length == 1 else f"must be {self.min_length}+ characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        # The document's patterns are ECMA-262, where a final `$` is the end of the string; Python's
        # `$` also matches before a final newline, so it is read as `\Z` here.
        pattern = self.pattern[:-1] + r"\Z" if self.pattern and self.pattern.endswith("$") else self.pattern
        if pattern is not None and not re.search(pattern, value):
            raise ValueError(self.means or f"must match {self.pattern}")

    def schema(self) -> dict[str, Any]:
        keys = {
            "minimum": self.minimum,
            "maximum": self.maximum,
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "pattern": self.pattern,
        }
        out: dict[str, Any] = {k: v for k, v in keys.items() if v is not None}
        if self.enum:
            out["enum"] = list(self.enum)
        return out


def bounds_of(tp: Any) -> tuple[Any, Bounds | None]:
    """(the base type, its Bounds) of an `Annotated[base, Bounds(...)]`; (tp, None) otherwise."""
    if typing.get_origin(tp) is Annotated:
        base, *meta = typing.get_args(tp)
        return base, next((m for m in meta if isinstance(m, Bounds)), None)
    return tp, None


converter = cattrs.Converter(forbid_extra_keys=True)


def _int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_json_type(value)}")
    return value


def _str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_json_type(value)}")
    if len(value) > MAX_STRING:
        raise ValueError(f"must be at most {MAX_STRING} characters")
    if not is_text(value):
        raise ValueError("must be valid Unicode text (a lone surrogate is not)")
    return value


def _bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_json_type(value)}")
    return value


def _enum(value: Any, tp: type[enum.Enum]) -> enum.Enum:
    names = [m.name for m in tp]
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"expected one of {', '.join(names)}")
    return tp[value]


def _is_list_type(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, frozenset, set, tuple)


def _list_factory(tp: Any) -> Any:
    (item,) = typing.get_args(tp)[:1] or (Any,)
    origin = typing.get_origin(tp)

    def hook(value: Any, _: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected an array, got {_json_type(value)}")
        errors: list[Exception] = []
        out = []
        for index, element in enumerate(value):
            try:
                out.append(converter.structure(element, item))
            except Exception as exc:
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    cattrs.errors.IterableValidationNote(f"Structuring {tp} @ index {index}", index, item),
                ]
                errors.append(exc)
        if errors:
            raise cattrs.IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return origin(out) if origin is not list else out

    return hook


def _annotated_factory(tp: Any) -> Any:
    base, bounds = bounds_of(tp)

    def hook(value: Any, _: Any) -> Any:
        out = converter.structure(value, base)
        if bounds is not None:
            bounds.check(out)
        return out

    return hook


def _is_annotated(tp: Any) -> bool:
    return bool(typing.get_origin(tp) is Annotated)


converter.register_structure_hook_factory(_is_annotated, _annotated_factory)
converter.register_structure_hook(int, _int)
converter.register_structure_hook(str, _str)
converter.register_structure_hook(bool, _bool)
converter.register_structure_hook_func(lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum)
converter.register_structure_hook_factory(_is_list_type, _list_factory)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _format(exc: BaseException, tp: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown field(s): {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, TypeError | AttributeError):
        return "expected an object" if attrs.has(tp) else "invalid value"
    return str(exc) or "invalid value"


def parse_json(raw: bytes, content_type: str) -> Any:
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Problem(415, "unsupported-media-type", "the body must be application/json")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "malformed-json", "the body is not valid JSON") from None


def structure(data: Any, model: type[T]) -> T:
    """Structure `data` into `model`, or raise a 400 Problem listing each field's error."""
    if not isinstance(data, dict):
        raise Problem(
            400,
            "validation-failed",
            "the body must be a JSON object",
            errors=[{"field": "$", "message": "expected an object"}],
        )
    try:
        return converter.structure(data, model)
    except (cattrs.BaseValidationError, ForbiddenExtraKeysError) as exc:
        errors = []
        for line in cattrs.transform_error(exc, path="$", format_exception=_format):
            message, _, field = line.rpartition(" @ ")
            errors.append({"field": field or "$", "message": message or line})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Problem(400, "validation-failed", f"invalid body: {detail}", errors=errors) from None


def field_error(field: str, message: str) -> Problem:
    return Problem(400, "validation-failed", f"{field}: {message}", errors=[{"field": field, "message": message}])
