"""classify(): the pure rule from a verified KYC result to a class."""

import pytest

from drexfy.domain.classification import Classification, classify
from drexfy.domain.errors import ClassificationRefused
from drexfy.domain.provider_events import KycResult


def result(**fields):
    fields.setdefault("approved", True)
    return KycResult(applicant_id="app-1", **fields)


@pytest.mark.parametrize(
    ("country", "accredited", "expected"),
    [
        ("US", True, Classification.US_ACCREDITED),
        ("US", False, Classification.US_NON_ACCREDITED),
        ("DE", True, Classification.EU_ACCREDITED),
        ("fr", False, Classification.EU_NON_ACCREDITED),
        ("NO", False, Classification.EU_NON_ACCREDITED),  # EEA
    ],
)
def test_region_from_verified_residence_and_accreditation_from_evidence(country, accredited, expected):
    assert classify(result(verified_country=country, accreditation_verified=accredited)) is expected


def test_a_sanctions_hit_wins_over_everything():
    assert (
        classify(result(verified_country="US", accreditation_verified=True, sanctions_hit=True))
        is Classification.SANCTIONED
    )
    assert classify(result(approved=False, sanctions_hit=True)) is Classification.SANCTIONED


def test_residence_outside_us_and_eu_is_refused_with_a_reason():
    with pytest.raises(ClassificationRefused, match="SG is outside the US and the EU/EEA"):
        classify(result(verified_country="SG"))


def test_configuration_may_map_a_country_explicitly():
    assert classify(result(verified_country="CH"), {"CH": "EU"}) is Classification.EU_NON_ACCREDITED
    with pytest.raises(ClassificationRefused, match="must be US or EU"):
        classify(result(verified_country="CH"), {"CH": "ASIA"})


def test_unapproved_or_countryless_results_are_refused():
    with pytest.raises(ClassificationRefused):
        classify(result(approved=False, verified_country="DE"))
    with pytest.raises(ClassificationRefused, match="no verified country"):
        classify(result(verified_country=None))
