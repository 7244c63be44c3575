"""TLS and mutual TLS through the same flags as the command line, with a
throwaway PKI made here by the `openssl` command (a CA, a server
certificate for 127.0.0.1, a partner's client certificate, and one from a
CA the server does not trust)."""

import shutil
import subprocess

import pytest

import psi_link as psi

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", d / f"{name}.key", "-out", d / f"{name}.pem")
    return d / f"{name}.pem", d / f"{name}.key"


def signed(d, issuer, name, extensions):
    key, csr, pem, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem",
                          d / f"{name}.ext")
    ext.write_text(extensions)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", issuer[0], "-CAkey", issuer[1],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", pem)
    return pem, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    partners = ca(d, "partners")
    strangers = ca(d, "strangers")
    server = signed(d, partners, "server",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    client = signed(d, partners, "partner-a", "extendedKeyUsage=clientAuth\n")
    stranger = signed(d, strangers, "stranger", "extendedKeyUsage=clientAuth\n")
    return {"ca": partners[0], "server": server, "client": client, "stranger": stranger}


def shared(a, b):
    return set(a["person"]) & set(b["person"])


def test_tls(frames, pki):
    a, b = frames
    cert, key = pki["server"]
    with psi.serve(b, key="email:email", tls_cert=cert, tls_key=key) as server:
        assert server.url.startswith("https://127.0.0.1:")
        res = psi.run(server.url, a, key="email:email", tls_ca=pki["ca"])
        assert set(res.frame["person"]) == shared(a, b)
        assert len(res.frame) == len(shared(a, b))
        # A client that does not trust the server's CA refuses it.
        with pytest.raises(psi.PeerError, match="TLS: .*UnknownIssuer"):
            psi.run(server.url, a, key="email:email")
        # Plain HTTP to a TLS server is no exchange either.
        with pytest.raises(psi.PeerError):
            psi.run(server.url.replace("https://", "http://"), a, key="email:email",
                    connect_timeout=5, idle_timeout=5)


@pytest.mark.parametrize("protocol", ["ecdh", "kkrt"])
def test_mutual_tls(frames, pki, protocol):
    a, b = frames
    cert, key = pki["server"]
    with psi.serve(b, key="email:email", tls_cert=cert, tls_key=key,
                   client_ca=pki["ca"]) as server:
        client_cert, client_key = pki["client"]
        res = psi.run(server.url, a, key="email:email", protocol=protocol, tls_ca=pki["ca"],
                      tls_cert=client_cert, tls_key=client_key)
        assert set(res.frame["person"]) == shared(a, b)
        assert len(res.frame) == len(shared(a, b))
        # Refused: no client certificate, and one from a CA the server does
        # not trust; the message says it is TLS.
        with pytest.raises(psi.PeerError, match="TLS: .*client certificate"):
            psi.run(server.url, a, key="email:email", tls_ca=pki["ca"])
        stranger_cert, stranger_key = pki["stranger"]
        with pytest.raises(psi.PeerError, match="TLS: .*client certificate"):
            psi.run(server.url, a, key="email:email", tls_ca=pki["ca"],
                    tls_cert=stranger_cert, tls_key=stranger_key)
        server.close()
        # The refused clients never got a session.
        assert len(server.report["sessions"]) == 1
