"""Specimen validity and the overall outcome of a drug test, computed, never typed.

Validity follows the HHS Urine Mandatory Guidelines that 49 CFR 40.88 and 40.96 apply
(units: creatinine mg/dL, nitrite µg/mL):

- substituted: creatinine < 2 and specific gravity <= 1.0010 or >= 1.0200;
- dilute: creatinine >= 2 and < 20 with specific gravity > 1.0010 and < 1.0030;
- adulterated: nitrite >= 500, or pH < 4 or >= 11;
- invalid: creatinine and specific gravity inconsistent (creatinine < 2 with specific gravity
  > 1.0010 and < 1.0200, or specific gravity <= 1.0010 with creatinine >= 2), pH >= 4 and
  < 4.5 or >= 9 and < 11, nitrite >= 200 and < 500.

Under 49 CFR 40.191 a verified adulterated or substituted specimen is a refusal to test, so
the overall outcome is ``refused``. A dilute positive stays positive (40.197).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from screening.analytes import EXPECTED_ANALYTES_BY_MEDICATION

DILUTE = "dilute"
SUBSTITUTED = "substituted"
ADULTERATED = "adulterated"
INVALID = "invalid"


def validity_flags(
    *,
    creatinine: Decimal | None = None,
    specific_gravity: Decimal | None = None,
    ph: Decimal | None = None,
    nitrite: Decimal | None = None,
) -> list[str]:
    """Flags for the measured validity values; unmeasured values raise no flag."""
    flags: list[str] = []
    cr, sg = creatinine, specific_gravity
    if cr is not None and sg is not None:
        if cr < 2 and (sg <= Decimal("1.0010") or sg >= Decimal("1.0200")):
            flags.append(SUBSTITUTED)
        elif cr < 2 or sg <= Decimal("1.0010"):
            # Creatinine too low for a specific gravity that is normal, or the reverse.
            flags.append(INVALID)
        elif cr < 20 and Decimal("1.0010") < sg < Decimal("1.0030"):
            flags.append(DILUTE)
    if (ph is not None and (ph < 4 or ph >= 11)) or (nitrite is not None and nitrite >= 500):
        flags.append(ADULTERATED)
    if (ph is not None and (Decimal(4) <= ph < Decimal("4.5") or Decimal(9) <= ph < 11)) or (
        nitrite is not None and 200 <= nitrite < 500
    ):
        flags.append(INVALID)
    return sorted(set(flags))


@dataclass(frozen=True)
class ResultLine:
    analyte: str
    result: str  # negative, positive, invalid, not_tested
    method: str  # screen, confirmation


def effective_results(lines: Iterable[ResultLine]) -> dict[str, str]:
    """Per analyte, the confirmation result when there is one, else the screen."""
    by_analyte: dict[str, str] = {}
    confirmed: set[str] = set()
    for line in lines:
        if line.method == "confirmation":
            by_analyte[line.analyte] = line.result
            confirmed.add(line.analyte)
        elif line.analyte not in confirmed:
            by_analyte[line.analyte] = line.result
    return by_analyte


def expected_analytes(medications: Iterable[str]) -> set[str]:
    expected: set[str] = set()
    for name in medications:
        expected |= EXPECTED_ANALYTES_BY_MEDICATION.get(name, frozenset())
    return expected


def overall_outcome(
    *,
    results: Iterable[ResultLine],
    flags: Iterable[str],
    medications: Iterable[str] = (),
) -> str | None:
    """The overall outcome of a resulted test; None while there is nothing to judge."""
    flag_set = set(flags)
    if flag_set & {ADULTERATED, SUBSTITUTED}:
        return "refused"
    by_analyte: Mapping[str, str] = effective_results(results)
    if INVALID in flag_set or "invalid" in by_analyte.values():
        return "invalid"
    positives = {a for a, r in by_analyte.items() if r == "positive"}
    if positives:
        if positives <= expected_analytes(medications):
            return "positive_expected"
        return "positive"
    if not by_analyte:
        return None
    return "negative_dilute" if DILUTE in flag_set else "negative"
