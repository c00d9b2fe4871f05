"""Every PostgreSQL connection plans with ``random_page_cost`` for cached data (the
server's default is for spinning disks), whatever the server says, unless told not to."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.core.test_configuration import setup_process

PRINT_OPTIONS = (
    "from django.conf import settings; "
    "print(repr(settings.DATABASES['default'].get('OPTIONS', {}).get('options')))"
)


def _options(tmp_path, **env: str) -> str:
    result = setup_process(env, tmp_path, then=PRINT_OPTIONS)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.django_db
def test_a_postgresql_connection_plans_for_cached_pages():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert cursor.fetchone()[0] == "1.1"


def test_the_setting_keeps_options_of_the_url_and_can_be_left_to_the_server(tmp_path):
    url = "postgresql://vioip@db:5432/vioip"
    assert _options(tmp_path, DATABASE_URL=url) == "'-c random_page_cost=1.1'"
    with_options = f"{url}?options=-c%20statement_timeout%3D5000"
    assert (
        _options(tmp_path, DATABASE_URL=with_options)
        == "'-c statement_timeout=5000 -c random_page_cost=1.1'"
    )
    assert _options(tmp_path, DATABASE_URL=url, VIOIP_DB_RANDOM_PAGE_COST="0") == "None"
    # The embedded default (SQLite) has no such setting.
    assert _options(tmp_path) == "None"
