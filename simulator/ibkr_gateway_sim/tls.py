"""A self-signed certificate made at start, like the gateway's own `vertx.jks` one."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.lru_cache(maxsize=1)
def self_signed_certificate() -> tuple[str, str]:
    """(certificate PEM, private key PEM) for localhost/127.0.0.1; made once per process."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IBKR Client Portal Gateway simulator"),
    ])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return certificate_pem, key_pem


def server_tls_context() -> tuple[ssl.SSLContext, str]:
    """A server-side TLS context with the self-signed certificate, and that certificate's PEM."""
    certificate_pem, key_pem = self_signed_certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only; a private temporary folder holds them for a moment.
    with tempfile.TemporaryDirectory(prefix="gateway-sim-tls-") as folder:
        certificate_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        with open(certificate_path, "w") as certificate_file:
            certificate_file.write(certificate_pem)
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as key_file:
            key_file.write(key_pem)
        context.load_cert_chain(certificate_path, key_path)
    return context, certificate_pem
