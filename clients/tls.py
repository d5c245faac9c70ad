"""TLS for the command-line clients: trusting the project's CA (``--ca FILE``), and a refusal said plainly.

``python -m servers --tls`` serves https:// and wss:// with a certificate signed by the project's own CA
(``servers/certificates.py``), which no system trusts by default. A client trusts it only when told to:
``--ca .tls/ca.pem`` (the file the launcher prints). Verification is never turned off: a client that
cannot verify the server's certificate stops and says what to do, because a client that accepts any
certificate accepts an attacker's too.

Standard library only, like ``setup_check``, which uses it before anything is installed.
"""

import ssl

FOLDER_HINT = ".tls/ca.pem"  # where python -m servers --tls keeps the CA, relative to the project
# What the usual failures mean: a fragment of the error's text, and what to do
ADVICE = (
    ("certificate has expired", "the server's certificate has expired (or this machine's clock is wrong): restart "
                                "the server, python -m servers --tls makes a new certificate at every start"),
    ("not yet valid", "the server's certificate is not valid yet: this machine's clock is behind, set it right"),
    ("IP address mismatch", "the server's certificate is not for this address: use the address the server "
                            "printed, or restart it with --host that address"),
    ("Hostname mismatch", "the server's certificate is not for this name: use the address the server printed"),
    ("self-signed certificate in certificate chain", "the server's certificate is signed by a CA you do not trust: "
                                                     f"pass --ca with the server's CA file ({FOLDER_HINT})"),
    ("unable to get local issuer certificate", "the server's certificate is signed by a CA you do not trust: pass "
                                               f"--ca with the server's CA file ({FOLDER_HINT} where the server runs)"),
    ("WRONG_VERSION_NUMBER", "the server does not speak TLS on this port: use http:// and ws://, or start the "
                             "server with --tls"),
    ("RECORD_LAYER_FAILURE", "the server does not speak TLS on this port: use http:// and ws://, or start the "
                             "server with --tls"),
)


def add_argument(parser) -> None:
    """The ``--ca FILE`` option every command-line client takes."""
    parser.add_argument("--ca", metavar="FILE", help="trust the CA in FILE for https:// and wss:// (python -m servers "
                                                     f"--tls prints it: {FOLDER_HINT})")


def context(ca: str | None) -> ssl.SSLContext:
    """A client context that verifies the server's certificate: against ``ca`` if given, else the system's CAs."""
    return ssl.create_default_context(cafile=ca)


def verify(ca: str | None) -> str | bool:
    """What ``requests`` takes as ``verify=``: the CA file, or True for the system's CAs (never False)."""
    return ca or True


def explain(error: BaseException) -> str | None:
    """What to do about a TLS failure somewhere in ``error`` (or its causes), in plain words; None if it is not one."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        for fragment, advice in ADVICE:
            if fragment in text:
                return advice
        error = error.__cause__ or error.__context__ or (error.args[0] if error.args and
                                                         isinstance(error.args[0], BaseException) else None)
    return None


def describe(error: BaseException) -> str:
    """The error, and what to do about it when it is a TLS failure: what the clients print."""
    advice = explain(error)
    return f"{error}\n{advice}" if advice else str(error)
