"""The analyte table the project ships: codes, names, cutoffs per specimen, LOINC codes.

Sources
-------
- Federal (HHS) analytes, urine: HHS Drug Testing Panel — Urine, "Mandatory Guidelines for
  Federal Workplace Drug Testing Programs — Authorized Testing Panels", 90 FR 4662
  (16 January 2025, effective 7 July 2025; reaffirmed unchanged, 91 FR 12308, 13 March 2026),
  under the Urine Mandatory Guidelines (88 FR 70768).
- Federal (HHS) analytes, oral fluid: Oral Fluid Mandatory Guidelines (88 FR 70814) as carried
  into 49 CFR 40.91, Table 1 (88 FR 27643, 2 May 2023).
- Analytes outside the federal panel (BAR, BZO, BUP, MTD, ETG, ALC): common clinical and
  commercial screening cutoffs. They are program policy, not regulation: a lab's own
  cutoffs (on its report) take precedence and should be recorded as the measured value.
- Breath alcohol (ALC): 49 CFR 40 subpart L, a screening result of 0.02 g/210 L or more
  needs a confirmation test.
- LOINC codes are the urine presence codes (most "by Screen method") where one exists; other
  specimens have their own LOINC terms, so those carry none here rather than a wrong one.

Cutoffs are in ng/mL unless ``unit`` says otherwise; ``None`` means no shipped cutoff for
that specimen (the lab's report decides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NG_PER_ML = "ng/mL"


@dataclass(frozen=True)
class Cutoff:
    screen: float | None
    confirmation: float | None
    unit: str = NG_PER_ML
    source: str = ""


@dataclass(frozen=True)
class Analyte:
    code: str
    name: str
    drug_class: str
    loinc: dict[str, tuple[str, str]] = field(default_factory=dict)  # specimen -> (code, name)
    cutoffs: dict[str, Cutoff] = field(default_factory=dict)  # specimen -> cutoff
    note: str = ""

    def loinc_for(self, specimen: str) -> tuple[str, str] | None:
        return self.loinc.get(specimen)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "drug_class": self.drug_class,
            "loinc": {s: {"code": c, "display": d} for s, (c, d) in self.loinc.items()},
            "cutoffs": {
                s: {
                    "screen": c.screen,
                    "confirmation": c.confirmation,
                    "unit": c.unit,
                    "source": c.source,
                }
                for s, c in self.cutoffs.items()
            },
            "note": self.note,
        }


HHS_URINE = "HHS urine panel, 90 FR 4662 (2025)"
HHS_ORAL_FLUID = "HHS oral fluid panel, 49 CFR 40.91 Table 1"
CLINICAL = "common clinical screening cutoff (program policy)"


def _u(screen: float | None, confirm: float | None, source: str = HHS_URINE) -> Cutoff:
    return Cutoff(screen, confirm, NG_PER_ML, source)


def _of(screen: float | None, confirm: float | None, source: str = HHS_ORAL_FLUID) -> Cutoff:
    return Cutoff(screen, confirm, NG_PER_ML, source)


ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in [
        Analyte(
            "AMP",
            "Amphetamine",
            "amphetamines",
            loinc={"urine": ("19343-3", "Amphetamines [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(500, 250), "oral_fluid": _of(50, 25)},
            note="Screened together with methamphetamine (grouped initial test).",
        ),
        Analyte(
            "mAMP",
            "Methamphetamine",
            "amphetamines",
            loinc={"urine": ("19554-5", "Methamphetamine [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(500, 250), "oral_fluid": _of(50, 25)},
        ),
        Analyte(
            "MDMA",
            "Methylenedioxymethamphetamine (MDMA/MDA)",
            "amphetamines",
            loinc={"urine": ("14267-9", "Methylenedioxymethamphetamine [Presence] in Urine")},
            cutoffs={"urine": _u(500, 250), "oral_fluid": _of(50, 25)},
        ),
        Analyte(
            "BAR",
            "Barbiturates",
            "sedatives",
            loinc={"urine": ("19270-8", "Barbiturates [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(200, None, CLINICAL)},
        ),
        Analyte(
            "BZO",
            "Benzodiazepines",
            "sedatives",
            loinc={"urine": ("14316-4", "Benzodiazepines [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(200, None, CLINICAL)},
        ),
        Analyte(
            "BUP",
            "Buprenorphine",
            "opioids",
            loinc={"urine": ("3414-0", "Buprenorphine [Presence] in Urine")},
            cutoffs={"urine": _u(10, None, CLINICAL)},
            note="Expected in patients on buprenorphine treatment (MOUD).",
        ),
        Analyte(
            "COC",
            "Cocaine metabolite (benzoylecgonine)",
            "stimulants",
            loinc={"urine": ("19359-9", "Cocaine [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(150, 100), "oral_fluid": _of(15, 8)},
        ),
        Analyte(
            "THC",
            "Marijuana metabolite (delta-9-THC-COOH)",
            "cannabinoids",
            loinc={"urine": ("18282-4", "Cannabinoids [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(50, 15), "oral_fluid": _of(4, 2)},
            note="Oral fluid tests parent THC, not the metabolite.",
        ),
        Analyte(
            "MTD",
            "Methadone",
            "opioids",
            loinc={"urine": ("19550-3", "Methadone [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(300, None, CLINICAL)},
            note="Expected in patients on methadone treatment (OTP).",
        ),
        Analyte(
            "OPI",
            "Opiates (codeine/morphine)",
            "opioids",
            loinc={"urine": ("19295-5", "Opiates [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(2000, 2000), "oral_fluid": _of(30, 15)},
            note="Urine confirmation: codeine 2,000 ng/mL, morphine 4,000 ng/mL (2025 panel).",
        ),
        Analyte(
            "MOP",
            "Morphine",
            "opioids",
            cutoffs={"urine": _u(2000, 4000), "oral_fluid": _of(30, 15)},
            note="Some devices report morphine (MOP) instead of opiates (OPI).",
        ),
        Analyte(
            "6-MAM",
            "6-Acetylmorphine (heroin metabolite)",
            "opioids",
            cutoffs={"urine": _u(10, 10), "oral_fluid": _of(4, 2)},
        ),
        Analyte(
            "OXY",
            "Oxycodone/oxymorphone",
            "opioids",
            loinc={"urine": ("19642-8", "oxyCODONE [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(100, 100), "oral_fluid": _of(30, 15)},
        ),
        Analyte(
            "FEN",
            "Fentanyl",
            "opioids",
            loinc={"urine": ("59673-4", "fentaNYL [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(1, 1)},
            note="Urine confirmation: fentanyl 1 ng/mL, norfentanyl 1 ng/mL (2025 panel).",
        ),
        Analyte(
            "PCP",
            "Phencyclidine",
            "hallucinogens",
            loinc={"urine": ("19659-2", "Phencyclidine [Presence] in Urine by Screen method")},
            cutoffs={"urine": _u(25, 25), "oral_fluid": _of(10, 10)},
        ),
        Analyte(
            "ETG",
            "Ethyl glucuronide (alcohol metabolite)",
            "alcohol",
            cutoffs={"urine": _u(500, None, CLINICAL)},
        ),
        Analyte(
            "ALC",
            "Alcohol (ethanol)",
            "alcohol",
            cutoffs={
                "breath": Cutoff(0.02, 0.02, "g/210 L", "49 CFR 40 subpart L"),
            },
        ),
    ]
}

ANALYTE_CODES: list[str] = list(ANALYTES)


def analyte_get(code: str) -> Analyte | None:
    return ANALYTES.get(code)


# Medications a clinician documents, and the analytes a positive for which they explain.
EXPECTED_ANALYTES_BY_MEDICATION: dict[str, frozenset[str]] = {
    "buprenorphine": frozenset({"BUP"}),
    "methadone": frozenset({"MTD"}),
    "prescribed_amphetamine": frozenset({"AMP"}),
    "prescribed_benzodiazepine": frozenset({"BZO"}),
    "prescribed_barbiturate": frozenset({"BAR"}),
    "prescribed_opioid": frozenset({"OPI", "MOP", "OXY"}),
    "prescribed_fentanyl": frozenset({"FEN"}),
    "dronabinol": frozenset({"THC"}),
}
