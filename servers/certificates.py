"""The certificates ``python -m servers --tls`` (and ``python -m servers.cluster --tls``) serve with.

Why a certificate authority of our own, and not a self-signed server certificate: a browser or a client is
told once to trust the CA (``ca.pem``), and every server certificate it signs afterwards is trusted too, for
whatever addresses this run serves. So the CA is made once and kept, in a folder git ignores (``.tls/``,
beside the project, never committed), while the server certificate is made again at every start, for the
addresses of that start: loopback, ``localhost``, and with ``--host 0.0.0.0`` every address of this machine.

Why the CA may sign only private names: whoever trusts it lets its key vouch for sites. Its key stays on this
machine (readable by its owner only), and should it leak all the same, RFC 5280's name constraints, which
browsers and OpenSSL enforce, limit it to loopback and private network addresses and to names no public site
can have (``localhost``, ``*.local``, ``*.lan``, ``*.internal``, ``*.home.arpa``): never ``bank.example``.

Keys are ECDSA on P-256: quick to make at every start, and as strong as 3072-bit RSA. The library is
``cryptography`` (pinned in requirements.txt), imported only by the servers that serve TLS.
"""

import base64
import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .trust import FOLDER, PRIVATE_NAMES, PRIVATE_NETWORKS, private

CA_DAYS = 825  # the CA's lifetime: a class's browsers trust it for a couple of years
SERVER_DAYS = 30  # a server certificate's; every start makes a new one
ORGANIZATION = "Polling vs WebSockets, measured"


@dataclass(frozen=True)
class Certificates:
    """The files of one run: the CA to trust, and the server's certificate and key to serve."""
    ca: Path
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """What our servers serve TLS with: TLS 1.2 and 1.3, HTTP/1.1 named by ALPN (the only HTTP they speak)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificate, self.key)
        context.set_alpn_protocols(["http/1.1"])
        return context


def make(names: list[str], folder: Path = FOLDER, *, valid_from: datetime.datetime | None = None,
         valid_until: datetime.datetime | None = None) -> Certificates:
    """The CA in ``folder`` (made the first time), and a new server certificate for ``names`` (addresses, or
    host names), valid from an hour ago for SERVER_DAYS unless ``valid_from``/``valid_until`` say otherwise.
    Raises ValueError for a name the CA may not vouch for (see ``private``)."""
    refused = [name for name in names if not private(name)]
    if refused:
        raise ValueError(f"the project's CA signs only private addresses and names, not {', '.join(refused)}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_certificate, ca_key = _the_ca(folder)
    now = datetime.datetime.now(datetime.timezone.utc)
    valid_from = valid_from or now - datetime.timedelta(hours=1)  # a client whose clock is a little behind
    valid_until = valid_until or now + datetime.timedelta(days=SERVER_DAYS)
    key = ec.generate_private_key(ec.SECP256R1())
    alternatives = [_general_name(name) for name in dict.fromkeys(names)]
    certificate = (_builder(_subject(names[0]), ca_certificate.subject, key.public_key(), valid_from, valid_until)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False)
                   .sign(ca_key, hashes.SHA256()))
    # key and certificate in one file, replaced whole: two servers starting at once never pair one's key with
    # the other's certificate (Python's load_cert_chain and nginx both read such a file)
    server = folder / "server.pem"
    _write(server, _private_bytes(key) + certificate.public_bytes(serialization.Encoding.PEM), 0o600)
    return Certificates(folder / "ca.pem", server, server)


def spki_sha256(certificate: Path) -> str:
    """The base64 SHA-256 of a certificate's public key (its SubjectPublicKeyInfo): what Chromium's
    ``--ignore-certificate-errors-spki-list`` names a key by."""
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = loaded.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode()


def _the_ca(folder: Path):
    """The CA's certificate and key (``ca-key.pem`` holds both), made the first time; ``ca.pem`` is its
    certificate alone, the file to trust. Two servers starting at once agree on one CA: ``os.link`` claims
    ``ca-key.pem`` only if it is absent, and the loser reads the winner's."""
    kept = folder / "ca-key.pem"
    if not kept.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"{ORGANIZATION}: local CA")])
        permitted = [x509.IPAddress(ipaddress.ip_network(network)) for network in PRIVATE_NETWORKS]
        permitted += [x509.DNSName(name) for name in PRIVATE_NAMES]
        certificate = (_builder(name, name, key.public_key(), now - datetime.timedelta(hours=1),
                                now + datetime.timedelta(days=CA_DAYS))
                       .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                       .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                      critical=True)
                       .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None),
                                      critical=True)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                       .sign(key, hashes.SHA256()))
        spare = folder / f".ca-key.{os.getpid()}"
        _write(spare, _private_bytes(key) + certificate.public_bytes(serialization.Encoding.PEM), 0o600)
        try:
            os.link(spare, kept)
        except FileExistsError:  # another server made one meanwhile: its CA it is
            pass
        finally:
            spare.unlink()
    both = kept.read_bytes()
    certificate = x509.load_pem_x509_certificate(both[both.index(b"-----BEGIN CERTIFICATE-----"):])
    _write(folder / "ca.pem", certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return certificate, serialization.load_pem_private_key(both, password=None)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, valid_from, valid_until) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(valid_from).not_valid_after(valid_until))


def _subject(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _private_bytes(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file whole, readable only as ``mode`` says from its first byte, replacing any before it."""
    spare = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(spare, path)
