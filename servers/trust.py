"""How to trust the project's CA: where ``--tls`` keeps it, and the words the launchers print, per system.

Standard library only (the CA itself is made by ``certificates.py``, with ``cryptography``), so the launcher
can name the folder in its ``--help`` without that library. A browser shows a warning page for a
certificate signed by a CA it does not trust, and a Python client refuses it; trusting the CA once, as
below, makes every certificate the servers make afterwards trusted, whatever addresses it names.
The fingerprint lets whoever copies ``ca.pem`` to another machine check that it is the teacher's.
"""

import hashlib
import ipaddress
import platform
import ssl
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / ".tls"  # the project's, ignored by git
NICKNAME = "polling-vs-websockets"  # the CA's name in a browser's list of authorities
PRIVATE_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                    "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10")  # what the CA may vouch for
PRIVATE_NAMES = ("localhost", "local", "lan", "internal", "home.arpa")  # and these names, with their subdomains

BROWSERS = {  # how to trust a CA on each system, for the browsers that use the system's list (Firefox has its own)
    "Linux": 'Chrome, Chromium: certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n {nickname} -i {ca} (Debian: '
             "sudo apt-get install libnss3-tools), or chrome://certificate-manager, Authorities, Import",
    "Darwin": "Safari, Chrome: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain "
              "{ca}",
    "Windows": "Edge, Chrome: certutil -addstore -user Root {ca}   (in a Command Prompt)",
}
FIREFOX = ("Firefox: Settings, Privacy & Security, Certificates, View Certificates, Authorities, Import {ca}, and tick "
           '"Trust this CA to identify websites"')
PYTHON = ("Python: the command-line clients take --ca {ca}; requests.get(url, verify=\"{ca}\"); websockets: "
          "connect(url, ssl=ssl.create_default_context(cafile=\"{ca}\"))")


def private(name: str) -> bool:
    """Whether the project's CA may vouch for ``name``: a private or loopback address, or a name no public site
    has (``certificates.py`` says why)."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return any(name == suffix or name.endswith("." + suffix) for suffix in PRIVATE_NAMES)
    return any(address in ipaddress.ip_network(network) for network in PRIVATE_NETWORKS)


def fingerprint(ca: Path) -> str:
    """The CA certificate's SHA-256 fingerprint, as browsers show it (colon-separated hexadecimal)."""
    der = ssl.PEM_cert_to_DER_cert(ca.read_text())
    return hashlib.sha256(der).hexdigest().upper()


def instructions(ca: Path, system: str | None = None) -> str:
    """What the launcher prints under TLS: the CA file, its fingerprint, and how to trust it here."""
    system = system or platform.system()
    digest = fingerprint(ca)
    lines = [f"TLS: the certificate is signed by this project's CA, {ca}",
             f"     (SHA-256 {':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))}).",
             "     Trust it once, and the browser's warning goes for good:",
             f"     {BROWSERS.get(system, BROWSERS['Linux'])}", f"     {FIREFOX}", f"     {PYTHON}",
             "     Other systems, and a class's laptops: servers/README.md, \"TLS\"."]
    return "\n".join(lines).format(ca=ca, nickname=NICKNAME)
