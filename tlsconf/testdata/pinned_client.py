"""A Python ssl client that pins a sockplane listener's certificate.

It trusts only the PEM in $PEM (status.tls.certificatePem), the way the
docs tell users to: ssl.create_default_context(cadata=pem). For each
server_hostname it connects to 127.0.0.1:$PORT, checks hostname
verification is on, offers ALPN, sends a line and reads the echo; then it
checks a name the certificate does not carry is refused. It runs every
check once with the context's defaults and once with VERIFY_X509_STRICT
(which Python 3.13 turns on by default).
"""

import os
import socket
import ssl
import sys

PEM = os.environ["PEM"]
PORT = int(os.environ["PORT"])


def context(strict):
    ctx = ssl.create_default_context(cadata=PEM)
    if not ctx.check_hostname or ctx.verify_mode != ssl.CERT_REQUIRED:
        sys.exit("create_default_context does not verify")
    if strict:
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.set_alpn_protocols(["sockplane/1"])
    return ctx


def echo(ctx, name):
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            msg = ("hello from python to " + name + "\n").encode()
            tls.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = tls.recv(len(msg) - len(got))
                if not chunk:
                    break
                got += chunk
            if got != msg:
                sys.exit("echo %r, want %r" % (got, msg))
            return tls.version(), tls.selected_alpn_protocol()


for strict in (False, True):
    ctx = context(strict)
    for name in ("localhost", "127.0.0.1"):
        version, alpn = echo(ctx, name)
        print("ok", name, "strict" if strict else "default", version, alpn)
    try:
        echo(ctx, "other.test")
    except ssl.SSLCertVerificationError as e:
        print("refused other.test", "strict" if strict else "default", e.verify_message)
    else:
        sys.exit("other.test was not refused")
