"""42 CFR part 2 constants: the notice that accompanies every disclosure, and the security
labels that mark Part 2 data in FHIR output.

The notice is versioned: a package records which version it carried. Version ``2024`` is the
short form of 42 CFR 2.32(a)(2) as amended by the 2024 final rule (89 FR 12472,
16 February 2024), which a program may use instead of the long statement.
"""

from __future__ import annotations

NOTICE_VERSION = "2024"
NOTICE_TEXT = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
NOTICE_CITATION = "42 CFR 2.32(a)(2) (89 FR 12472, 2024)"

NOTICES = {NOTICE_VERSION: NOTICE_TEXT}

V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# Restricted confidentiality; the 42 CFR Part 2 privacy law; substance-use sensitivity;
# and the obligation not to redisclose without the patient's consent.
PART2_SECURITY_LABELS: list[dict[str, str]] = [
    {"system": V3_CONFIDENTIALITY, "code": "R", "display": "restricted"},
    {"system": V3_ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {
        "system": V3_ACT_CODE,
        "code": "SUD",
        "display": "substance use disorder information sensitivity",
    },
    {
        "system": V3_ACT_CODE,
        "code": "NORDSCLCD",
        "display": "no redisclosure without consent directive",
    },
]


def notice_block() -> dict[str, str]:
    return {"version": NOTICE_VERSION, "text": NOTICE_TEXT, "citation": NOTICE_CITATION}
