"""Make a self-signed TLS certificate for nginx, once: the compose stack's first start.

    python deploy/self_signed_cert.py --dir /certs --name vioip.example.org [--name ...]

Writes ``fullchain.pem`` and ``privkey.pem`` (mode 0600) into ``--dir`` unless both are
there already, so a restart keeps the certificate and real certificates put there (or
mounted instead, see docs/deployment.md) are never overwritten. Browsers warn about a
self-signed certificate: it is for a first start and for trying the stack, not for patients.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT = "fullchain.pem"
KEY = "privkey.pem"


def _subject_names(names: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def make(directory: Path, names: list[str], days: int) -> bool:
    """Writes a key and certificate for ``names``; False when both files exist already."""
    cert_path, key_path = directory / CERT, directory / KEY
    if cert_path.exists() and key_path.exists():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_subject_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path, help="where the PEM files go")
    parser.add_argument(
        "--name", action="append", default=[], help="host name or address (repeatable)"
    )
    parser.add_argument("--days", type=int, default=825)
    args = parser.parse_args(argv)
    # The names come from VIOIP_ALLOWED_HOSTS: ".example.org" (a domain and its subdomains)
    # names the domain; "*" names nothing.
    names = [
        n.strip().lstrip(".")
        for value in args.name
        for n in value.split(",")
        if n.strip().lstrip(".") not in ("", "*")
    ]
    if not names:
        names = ["localhost"]
    if make(args.dir, names, args.days):
        print(f"Self-signed certificate for {', '.join(names)} written to {args.dir}.")
    else:
        print(f"{args.dir} already holds {CERT} and {KEY}; left as they are.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
