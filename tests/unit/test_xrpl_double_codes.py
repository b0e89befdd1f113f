"""The XRPL double's result codes carry rippled's numbers: a client that logs or stores the numeric
TER (metadata's `TransactionResult` is serialised as it) must see what a real server would give.
The reference is the binary codec's `TRANSACTION_RESULTS` table shipped with xrpl-py, which is
generated from rippled's `TER.h`."""

from __future__ import annotations

import json
from importlib import resources

from tests.support.xrpl_double.codes import RESULTS


def _codec_results() -> dict[str, int]:
    definitions = resources.files("xrpl.core.binarycodec.definitions").joinpath("definitions.json")
    table: dict[str, int] = json.loads(definitions.read_text())["TRANSACTION_RESULTS"]
    return table


def test_every_code_the_double_returns_has_rippleds_number() -> None:
    codec = _codec_results()
    assert len(RESULTS) > 40  # the table is the double's, not an empty stand-in
    unknown = sorted(set(RESULTS) - set(codec))
    assert unknown == [], f"codes rippled does not have: {unknown}"
    wrong = {name: (number, codec[name]) for name, (number, _) in RESULTS.items() if number != codec[name]}
    assert wrong == {}, f"(double, rippled) numbers that differ: {wrong}"


def test_each_code_sits_in_its_classs_range() -> None:
    ranges = {
        "tes": (0, 0),
        "tec": (100, 255),
        "tef": (-199, -100),
        "tel": (-399, -300),
        "tem": (-299, -200),
        "ter": (-99, -1),
    }
    for name, (number, message) in RESULTS.items():
        low, high = ranges[name[:3]]
        assert low <= number <= high, name
        assert message, name
