"""Fixtures for second-factor tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tests.accounts.mfa_helpers import STAFF


@pytest.fixture
def clock() -> Any:
    # Mid-step, so a shift of 30 s lands in the next step, never on its edge.
    start = timezone.now().replace(microsecond=0)
    start = start - dt.timedelta(seconds=start.second % 30) + dt.timedelta(seconds=10)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mfa_required(settings: Any) -> None:
    settings.MFA_REQUIRED_ROLES = STAFF
