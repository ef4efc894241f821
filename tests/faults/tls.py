"""Transport security for the tests: certificates, and the server side of TLS and SASL.

The embedded broker speaks neither TLS nor SASL in a way a test can provision (its users
live in storage that memory mode cannot seed), and the shared PostgreSQL's TLS settings
are not ours to change. So the `TcpProxy` terminates them in front of both, with the
server side written out here against the protocols' specifications:

- `make_pki(dir)`: a throw-away CA, a server certificate for 127.0.0.1/localhost and a
  client certificate (mutual TLS), made with the `openssl` command;
- `PgTls`: PostgreSQL's TLS negotiation (an `SSLRequest` answered `S`, then the TLS
  handshake, then the startup message), refusing clients that do not ask for TLS;
- `KafkaSasl`: the broker side of Kafka's SASL exchange (`SaslHandshake`, then
  `SaslAuthenticate` frames) for SCRAM-SHA-256/512 (RFC 5802, RFC 7677, with real proof
  verification) and OAUTHBEARER (RFC 7628, checking the bearer token); `ApiVersions` is
  passed to the broker, and any other request before authentication drops the client.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import os
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.faults.proxy import Streams

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
UNSUPPORTED_SASL_MECHANISM, SASL_AUTHENTICATION_FAILED = 33, 58


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting it must fail

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            ctx.load_verify_locations(self.ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.pem"),
                 "-days", "2", "-subj", f"/CN=heatdesk test {name}")
    for name, extensions in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                             ("client", "extendedKeyUsage=clientAuth")):
        (directory / f"{name}.ext").write_text(extensions + "\n")
        _openssl("req", *ec, "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.csr"),
                 "-subj", f"/CN=heatdesk-{name}")
        _openssl("x509", "-req", "-in", str(directory / f"{name}.csr"), "-CA", str(directory / "ca.pem"),
                 "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-out", str(directory / f"{name}.pem"),
                 "-days", "2", "-extfile", str(directory / f"{name}.ext"))
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "client.pem",
               directory / "client.key", directory / "other-ca.pem")


class PgTls:
    """Server side of PostgreSQL's TLS negotiation; plaintext clients are refused."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.tls_sessions = 0
        self.refused_plaintext = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       open_upstream: Callable[[], Awaitable[Streams]]) -> Streams | None:
        while True:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if code == GSSENC_REQUEST:
                writer.write(b"N")  # no GSSAPI encryption here; the client may ask for TLS next
                await writer.drain()
                continue
            if code != SSL_REQUEST or length != 8:
                self.refused_plaintext += 1
                return None
            break
        writer.write(b"S")
        await writer.drain()
        await writer.start_tls(self.context)
        self.tls_sessions += 1
        return await open_upstream()


def _frame(correlation_id: int, body: bytes) -> bytes:
    payload = struct.pack("!i", correlation_id) + body
    return struct.pack("!i", len(payload)) + payload


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack("!h", -1)
    data = value.encode()
    return struct.pack("!h", len(data)) + data


class ScramServer:
    """One SCRAM exchange, server side (RFC 5802): verifies the client's proof, proves itself."""

    def __init__(self, mechanism: str, users: dict[str, str], iterations: int = 4096) -> None:
        self.hash_name = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        self.users = users
        self.iterations = iterations
        self.first_bare = self.server_first = self.nonce = ""
        self.salt = os.urandom(16)
        self.password: str | None = None
        self.user = ""

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash_name).digest()

    def step(self, data: bytes) -> tuple[bool, bytes]:
        """(finished, bytes for the client); raises PermissionError when authentication fails."""
        text = data.decode()
        if not self.first_bare:
            self.first_bare = text.split(",", 2)[2]  # after the GS2 header "n,,"
            attrs = dict(kv.split("=", 1) for kv in self.first_bare.split(","))
            self.user = attrs["n"].replace("=2C", ",").replace("=3D", "=")
            self.password = self.users.get(self.user)
            self.nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
            self.server_first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"
            return False, self.server_first.encode()
        attrs = dict(kv.split("=", 1) for kv in text.split(","))
        without_proof = text[:text.rindex(",p=")]
        auth_message = f"{self.first_bare},{self.server_first},{without_proof}".encode()
        if self.password is None or attrs.get("r") != self.nonce:
            raise PermissionError(f"unknown user {self.user!r} or nonce mismatch")
        salted = hashlib.pbkdf2_hmac(self.hash_name, self.password.encode(), self.salt, self.iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        signature = self._hmac(stored_key, auth_message)
        proof = base64.b64decode(attrs["p"])
        recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(self.hash_name, recovered).digest(), stored_key):
            raise PermissionError(f"wrong password for {self.user!r}")
        server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return True, f"v={base64.b64encode(server_signature).decode()}".encode()


class OAuthBearerServer:
    """RFC 7628 initial response: `n,,<0x01>auth=Bearer <token><0x01><0x01>`; the token must be valid."""

    def __init__(self, valid: Callable[[str], bool]) -> None:
        self.valid = valid
        self.token = ""

    def step(self, data: bytes) -> tuple[bool, bytes]:
        fields = dict(kv.split("=", 1) for kv in data.decode().split("\x01")[1:] if "=" in kv)
        scheme, _, token = fields.get("auth", "").partition(" ")
        if scheme.lower() != "bearer" or not self.valid(token):
            raise PermissionError("invalid bearer token")
        self.token = token
        return True, b""


class KafkaSasl:
    """Broker side of SASL authentication in front of a broker that has none."""

    def __init__(self, *, scram_users: dict[str, str] | None = None,
                 oauth_valid: Callable[[str], bool] | None = None) -> None:
        self.scram_users = scram_users or {}
        self.oauth_valid = oauth_valid
        self.mechanisms = ([m for m in ("SCRAM-SHA-256", "SCRAM-SHA-512") if self.scram_users]
                           + (["OAUTHBEARER"] if oauth_valid else []))
        self.authenticated: list[tuple[str, str]] = []  # (mechanism, user or token)
        self.failed: list[str] = []
        self.dropped_unauthenticated = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       open_upstream: Callable[[], Awaitable[Streams]]) -> Streams | None:
        upstream: Streams | None = None
        mechanism: ScramServer | OAuthBearerServer | None = None
        mechanism_name = ""
        while True:
            (size,) = struct.unpack("!i", await reader.readexactly(4))
            request = await reader.readexactly(size)
            api_key, api_version, correlation_id = struct.unpack("!hhi", request[:8])
            (client_id_len,) = struct.unpack("!h", request[8:10])
            body = request[10 + max(0, client_id_len):]
            if api_key == API_VERSIONS:  # what the broker supports: ask the broker
                if upstream is None:
                    upstream = await open_upstream()
                upstream[1].write(struct.pack("!i", size) + request)
                await upstream[1].drain()
                (rsize,) = struct.unpack("!i", await upstream[0].readexactly(4))
                writer.write(struct.pack("!i", rsize) + await upstream[0].readexactly(rsize))
                await writer.drain()
            elif api_key == SASL_HANDSHAKE and api_version in (0, 1):
                (length,) = struct.unpack("!h", body[:2])
                mechanism_name = body[2:2 + length].decode()
                ok = mechanism_name in self.mechanisms
                if not ok:
                    self.failed.append(f"unsupported mechanism {mechanism_name}")
                listed = b"".join(_string(m) for m in self.mechanisms)
                writer.write(_frame(correlation_id, struct.pack("!hi", 0 if ok else UNSUPPORTED_SASL_MECHANISM,
                                                                len(self.mechanisms)) + listed))
                await writer.drain()
                if not ok:
                    return None
                mechanism = (OAuthBearerServer(self.oauth_valid) if mechanism_name == "OAUTHBEARER"  # type: ignore[arg-type]
                             else ScramServer(mechanism_name, self.scram_users))
            elif api_key == SASL_AUTHENTICATE and api_version in (0, 1) and mechanism is not None:
                (length,) = struct.unpack("!i", body[:4])
                try:
                    done, answer = mechanism.step(body[4:4 + length])
                    error, message = 0, None
                except (PermissionError, ValueError, KeyError, IndexError) as exc:
                    done, answer, error, message = False, b"", SASL_AUTHENTICATION_FAILED, f"Authentication failed: {exc}"
                response = struct.pack("!h", error) + _string(message) + struct.pack("!i", len(answer)) + answer
                if api_version == 1:
                    response += struct.pack("!q", 0)  # session lifetime: no re-authentication required
                if error:  # recorded before the client hears of it
                    self.failed.append(message or "")
                elif done:
                    who = mechanism.user if isinstance(mechanism, ScramServer) else mechanism.token
                    self.authenticated.append((mechanism_name, who))
                writer.write(_frame(correlation_id, response))
                await writer.drain()
                if error:
                    return None
                if done:
                    return upstream or await open_upstream()
            else:  # anything else before authentication: not served
                self.dropped_unauthenticated += 1
                return None
