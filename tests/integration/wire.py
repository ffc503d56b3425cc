"""A minimal PostgreSQL v3 wire client on raw sockets, for tests that real drivers cannot express.

It builds startup packets (good and malformed), reads backend messages with a deadline, runs the
SCRAM-SHA-256 exchange itself (so tests can see the exact SQLSTATE of an authentication failure
and check that unknown users get the same exchange as known ones), and sends arbitrary messages.
See PostgreSQL documentation, 55.7 "Message Formats" and 55.3.1 "SASL Authentication".
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import time
from dataclasses import dataclass

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
CANCEL_REQUEST = 80877102


class Closed(Exception):
    """The server closed the connection."""


def startup_packet(user: str, database: str = "app", **params: str) -> bytes:
    body = struct.pack("!I", PROTOCOL_3)
    for k, v in {"user": user, "database": database, **params}.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(tag: bytes, payload: bytes = b"") -> bytes:
    return tag + struct.pack("!I", len(payload) + 4) + payload


def query_message(sql: str) -> bytes:
    return message(b"Q", sql.encode() + b"\0")


@dataclass
class Error:
    fields: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.fields.get("C")

    @property
    def text(self) -> str:
        return self.fields.get("M", "")

    def __str__(self) -> str:
        return f"{self.fields.get('S', '?')} {self.code}: {self.text}"


def parse_error(payload: bytes) -> Error:
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return Error(fields)


class Conn:
    """One raw connection; every read has a deadline so a stuck server fails the test, not hangs it."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no data from server within {self.timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed()
            self.buf += chunk

    def read_byte(self) -> bytes:
        """One raw byte (the answer to SSLRequest)."""
        self._fill(1, time.monotonic() + self.timeout)
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read(self) -> tuple[bytes, bytes]:
        """The next backend message as (tag, payload)."""
        deadline = time.monotonic() + self.timeout
        self._fill(5, deadline)
        tag = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        if length < 4 or length > 1 << 26:
            raise ValueError(f"implausible message length {length} for tag {tag!r}")
        self._fill(1 + length, deadline)
        payload = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return tag, payload

    def read_until_closed(self) -> list[tuple[bytes, bytes]]:
        """Every message until the server closes; TimeoutError if it keeps the socket open."""
        out = []
        while True:
            try:
                out.append(self.read())
            except Closed:
                return out

    def read_until(self, tags: bytes) -> list[tuple[bytes, bytes]]:
        """Messages up to and including the first whose tag is in `tags`."""
        out = []
        while True:
            m = self.read()
            out.append(m)
            if m[0] in tags:
                return out

    def is_closed(self, wait: float = 5.0) -> bool:
        """True if the server closes the connection within `wait` seconds (data is discarded)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
        return False


def auth_request(payload: bytes) -> tuple[int, bytes]:
    (code,) = struct.unpack("!I", payload[:4])
    return code, payload[4:]


class AuthFailed(Exception):
    def __init__(self, error: Error, stage: str):
        super().__init__(f"{stage}: {error}")
        self.error = error
        self.stage = stage


def scram_login(conn: Conn, user: str, password: str, *, database: str = "app",
                stop_after: str | None = None) -> list[tuple[bytes, bytes]]:
    """Runs startup and SCRAM-SHA-256 as a client. Returns the messages after AuthenticationOk up
    to ReadyForQuery. Raises AuthFailed with the server's ErrorResponse. `stop_after` ("sasl",
    "first") returns early, leaving the exchange half done."""
    conn.send(startup_packet(user, database))
    tag, payload = conn.read()
    if tag == b"E":
        raise AuthFailed(parse_error(payload), "startup")
    code, data = auth_request(payload)
    if tag != b"R" or code != 10:
        raise AssertionError(f"expected AuthenticationSASL, got {tag!r} code {code}")
    mechanisms = [m.decode() for m in data.split(b"\0") if m]
    if "SCRAM-SHA-256" not in mechanisms:
        raise AssertionError(f"SCRAM-SHA-256 not offered: {mechanisms}")
    if stop_after == "sasl":
        return []
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n=,r={nonce}"
    first = ("n,," + first_bare).encode()
    conn.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
    tag, payload = conn.read()
    if tag == b"E":
        raise AuthFailed(parse_error(payload), "client-first")
    code, server_first = auth_request(payload)
    if tag != b"R" or code != 11:
        raise AssertionError(f"expected AuthenticationSASLContinue, got {tag!r} code {code}")
    if stop_after == "first":
        return []
    attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
    if not attrs["r"].startswith(nonce):
        raise AssertionError("server nonce does not extend the client nonce")
    salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_bare = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first.decode()},{final_bare}".encode()
    signature = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{final_bare},p={base64.b64encode(proof).decode()}".encode()
    conn.send(message(b"p", final))
    tag, payload = conn.read()
    if tag == b"E":
        raise AuthFailed(parse_error(payload), "client-final")
    code, server_final = auth_request(payload)
    if tag != b"R" or code != 12:
        raise AssertionError(f"expected AuthenticationSASLFinal, got {tag!r} code {code}")
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, "sha256").digest()).decode()
    if server_final.decode() != f"v={expected}":
        raise AssertionError("server signature does not verify: the proxy does not know the verifier")
    tag, payload = conn.read()
    if tag != b"R" or auth_request(payload)[0] != 0:
        raise AssertionError(f"expected AuthenticationOk, got {tag!r}")
    return conn.read_until(b"Z")


def parse_data_row(payload: bytes) -> list[bytes | None]:
    """The column values of a DataRow body, as bytes (None for NULL)."""
    (n,) = struct.unpack("!H", payload[:2])
    pos, row = 2, []
    for _ in range(n):
        (length,) = struct.unpack("!i", payload[pos:pos + 4])
        pos += 4
        row.append(None if length < 0 else payload[pos:pos + length])
        pos += max(length, 0)
    return row


def simple_query(conn: Conn, sql: str) -> tuple[list[list[str | None]], Error | None]:
    """Runs one simple Query; returns the text rows and the ErrorResponse, if any."""
    conn.send(query_message(sql))
    rows, error = [], None
    for tag, payload in conn.read_until(b"Z"):
        if tag == b"D":
            rows.append([None if v is None else v.decode() for v in parse_data_row(payload)])
        elif tag == b"E":
            error = parse_error(payload)
    return rows, error
