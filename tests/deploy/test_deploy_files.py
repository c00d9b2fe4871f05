"""The deployment files, checked without Docker: the lock covers the project's
dependencies, the compose file is valid and production-shaped, the proxy config sets the
forwarded headers itself, and the secret and certificate helpers make what the stack reads."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy import compose

ROOT = compose.ROOT
LOCK = ROOT / "requirements.lock"
TEMPLATE = ROOT / "deploy" / "nginx" / "vioip.conf.template"


def _locked() -> dict[str, list[str]]:
    """Package name -> the versions pinned for it (one per environment marker)."""
    pins: dict[str, list[str]] = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", line)
        if match:
            pins.setdefault(canonicalize_name(match.group(1)), []).append(match.group(2))
    return pins


def test_the_lock_pins_every_project_dependency_within_its_bounds_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _locked()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock (refresh it)"
        for version in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version} outside {requirement.specifier}"
            )
        for extra in requirement.extras:  # psycopg[binary]
            assert canonicalize_name(f"{requirement.name}-{extra}") in pins
    # Every pin carries hashes: the image installs with --require-hashes.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    for block in blocks:
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_image_installs_from_the_lock_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "-r requirements.lock" in dockerfile
    installs = re.findall(r"pip install[^\n]*", dockerfile.replace("\\\n", " "))
    assert installs and all("requirements.lock" in command for command in installs)
    assert "--proxy-headers" not in dockerfile.split("# Never --proxy-headers")[1]


def test_http_workers_weigh_less_than_rooms_and_the_bench_weighs_them_so():
    from bench import rooms

    services = compose.load()["services"]
    web = int(services["web"]["cpu_shares"])
    # Every other service keeps the default weight, 1,024.
    assert all("cpu_shares" not in spec for name, spec in services.items() if name != "web")
    assert web < 1024
    # The bench's nice level for its HTTP worker: the kernel's weight for nice n is
    # about 1,024 / 1.25**n.
    assert abs(1024 / 1.25**rooms.HTTP_NICE - web) / web < 0.1


def test_docker_compose_accepts_the_file():
    if shutil.which("docker-compose") is None:
        if os.environ.get("VIOIP_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail("docker-compose is missing (run scripts/setup-system)")
        pytest.skip("docker-compose is not installed")
    result = subprocess.run(
        ["docker-compose", "-f", str(compose.COMPOSE_FILE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_only_nginx_is_published_and_every_long_running_service_has_a_healthcheck():
    services = compose.load()["services"]
    assert {"nginx", "web", "rooms", "sweep", "migrate", "postgres", "redis"} <= set(services)
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    assert sorted(services["nginx"]["ports"]) == ["443:443", "80:80"]
    one_shots = {"migrate", "certs"}
    for name, service in services.items():
        if name in one_shots:
            assert service["restart"] == "no"
        else:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in ("web", "rooms"):
        command = services[name]["command"]
        assert command[:3] == ["python", "-m", "vioip.server"]
        assert "--proxy-headers" not in command


def test_secrets_reach_the_app_as_files_and_the_proxy_alone_is_trusted():
    loaded = compose.load()
    services = loaded["services"]
    for name in ("web", "rooms", "sweep", "migrate"):
        env = services[name]["environment"]
        for secret in ("VIOIP_SECRET_KEY", "VIOIP_FIELD_KEYS", "VIOIP_AUDIT_KEY", "DATABASE_URL"):
            assert secret not in env, f"{name} gets {secret} in clear"
            path = env[f"{secret}_FILE"]
            assert path.startswith("/run/secrets/")
            assert path.removeprefix("/run/secrets/") in services[name]["secrets"]
        assert env["VIOIP_DEBUG"] == "0" and env["VIOIP_SSL_REDIRECT"] == "1"
        proxy = services["nginx"]["networks"]["vioip"]["ipv4_address"]
        assert env["VIOIP_TRUSTED_PROXIES"] == f"{proxy}/32"
    assert services["web"]["environment"]["VIOIP_PROCESS_ROLE"] == "http"
    assert services["rooms"]["environment"]["VIOIP_PROCESS_ROLE"] == "rooms"
    postgres = services["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_the_connection_budget_of_the_documented_scale_fits_postgres():
    """docs/deployment.md: processes x (HTTP_CONCURRENCY + ROOM_DB_THREADS +
    ROOM_ENTRY_THREADS) stays below max_connections at the documented scale (3 web, 2 rooms,
    the sweep and a migrate)."""
    services = compose.load()["services"]
    command = services["postgres"]["command"]
    max_connections = int(command[command.index("-c") + 1].removeprefix("max_connections="))

    def budget(name: str) -> int:
        env = services[name]["environment"]
        return (
            int(env.get("VIOIP_HTTP_CONCURRENCY", 20))
            + int(env.get("VIOIP_ROOM_DB_THREADS", 2))
            + int(env.get("VIOIP_ROOM_ENTRY_THREADS", 3))
        )

    used = 3 * budget("web") + 2 * budget("rooms") + budget("sweep") + budget("migrate")
    assert used < max_connections - 10  # room for psql, backups and the superuser


def test_every_proxied_location_sets_the_forwarded_headers_itself():
    template = TEMPLATE.read_text()
    # nginx does not inherit proxy_set_header into a location that sets any: each
    # location that proxies must set them all, overwriting what the client sent.
    locations = re.findall(r"location [^{]+\{(.*?)\n    \}", template, flags=re.S)
    proxied = [body for body in locations if "proxy_pass" in body]
    assert len(proxied) == 2
    for body in proxied:
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in body
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in body
        assert "proxy_set_header X-Request-ID $request_id;" in body
        assert "proxy_set_header Host $host;" in body
    assert "proxy_add_x_forwarded_for" not in template


def test_make_secrets_writes_what_the_settings_accept_and_keeps_what_exists(tmp_path):
    target = tmp_path / "secrets"
    subprocess.run([str(ROOT / "deploy" / "make-secrets"), str(target)], check=True, timeout=60)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    read = {path.name: path.read_text().strip() for path in target.iterdir()}
    assert set(read) == {
        "secret_key",
        "field_keys",
        "audit_key",
        "postgres_password",
        "database_url",
    }
    Fernet(read["field_keys"])
    assert len(read["audit_key"]) >= 32 and len(read["secret_key"]) >= 50
    assert read["database_url"] == (
        f"postgresql://vioip:{read['postgres_password']}@postgres:5432/vioip"
    )
    # The settings read them as files (what compose gives the workers).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIOIP_", "DATABASE_URL"))}
    env.update(
        VIOIP_SECRET_KEY_FILE=str(target / "secret_key"),
        VIOIP_FIELD_KEYS_FILE=str(target / "field_keys"),
        VIOIP_AUDIT_KEY_FILE=str(target / "audit_key"),
        DATABASE_URL_FILE=str(target / "database_url"),
        VIOIP_ALLOWED_HOSTS="localhost",
        VIOIP_LOCAL_DIR=str(tmp_path / "var"),
    )
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['HOST'], settings.DEBUG)"
    )
    env["DJANGO_SETTINGS_MODULE"] = "vioip.settings"
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["postgres", "False"]
    # A second run keeps every file.
    subprocess.run([str(ROOT / "deploy" / "make-secrets"), str(target)], check=True, timeout=60)
    assert {path.name: path.read_text().strip() for path in target.iterdir()} == read


def test_the_self_signed_certificate_is_made_once_and_never_over_real_ones(tmp_path):
    script = [sys.executable, str(ROOT / "deploy" / "self_signed_cert.py"), "--dir", str(tmp_path)]
    hosts = ".clinic.example.org,127.0.0.1,*"  # as VIOIP_ALLOWED_HOSTS may say
    subprocess.run([*script, "--name", hosts], check=True, timeout=60)
    cert = x509.load_pem_x509_certificate((tmp_path / "fullchain.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["clinic.example.org"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert stat.S_IMODE((tmp_path / "privkey.pem").stat().st_mode) == 0o600
    # Real certificates (or the first run's) are left as they are.
    before = (tmp_path / "fullchain.pem").read_bytes()
    subprocess.run([*script, "--name", "other.example.org"], check=True, timeout=60)
    assert (tmp_path / "fullchain.pem").read_bytes() == before
