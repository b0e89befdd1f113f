"""Investor classification: a pure rule from a verified KYC result to one of five classes."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from drexfy.domain.errors import ClassificationRefused
from drexfy.domain.provider_events import KycResult


class Classification(enum.Enum):
    """The on-chain investor classes. The numeric codes are what the ledgers store."""

    US_ACCREDITED = 1
    US_NON_ACCREDITED = 2
    EU_ACCREDITED = 3
    EU_NON_ACCREDITED = 4
    SANCTIONED = 5

    @property
    def code(self) -> int:
        return self.value


#: EU member states plus the EEA's Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2).
EU_EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
US = frozenset({"US"})


def classify(result: KycResult, region_overrides: Mapping[str, str] | None = None) -> Classification:
    """Classify an approved applicant.

    - a sanctions hit gives SANCTIONED whatever else the result says;
    - the region comes from the *verified* country: US, or EU/EEA; any other country is refused with
      a reason unless `region_overrides` maps it explicitly to "US" or "EU" (never a silent default);
    - accredited only on verified evidence, never on the investor's declaration.
    """
    if result.sanctions_hit:
        return Classification.SANCTIONED
    if not result.approved:
        raise ClassificationRefused("KYC was not approved; only approved applicants are classified")
    country = (result.verified_country or "").upper()
    if not country:
        raise ClassificationRefused("KYC result carries no verified country of residence")
    region = _region(country, region_overrides or {})
    if region == "US":
        return Classification.US_ACCREDITED if result.accreditation_verified else Classification.US_NON_ACCREDITED
    return Classification.EU_ACCREDITED if result.accreditation_verified else Classification.EU_NON_ACCREDITED


def _region(country: str, overrides: Mapping[str, str]) -> str:
    if country in US:
        return "US"
    if country in EU_EEA:
        return "EU"
    mapped = overrides.get(country)
    if mapped is None:
        raise ClassificationRefused(
            f"residence {country} is outside the US and the EU/EEA and no configured mapping names it"
        )
    if mapped not in ("US", "EU"):
        raise ClassificationRefused(f"configured mapping for {country} must be US or EU, not {mapped!r}")
    return mapped
