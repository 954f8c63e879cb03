"""Who may open the operator console: it can move a robot, so it listens on 127.0.0.1 unless told
otherwise, and on any other address it needs a secret token (a file `robokit keys` writes) and TLS,
or an explicit --console-insecure that it warns about.

    policy = ListenPolicy.check(host, token_file, cert, key, insecure)   # one sentence if refused
    policy.allows_token(presented)                                      # constant-time compare
    allowed_origin(origin, host_header)                                  # WebSocket Origin check
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TOKEN_BYTES = 32


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_token(path: Path) -> Path:
    """A new random console token in `path` (readable by its owner only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class ListenPolicy:
    host: str
    token: str | None
    cert: Path | None
    key: Path | None
    warning: str | None = None

    @classmethod
    def check(
        cls, host: str, token_file: Path | None, cert: Path | None, key: Path | None, insecure: bool
    ) -> ListenPolicy:
        token = _read_token(token_file) if token_file is not None else None
        if (cert is None) != (key is None):
            raise ValueError("the console needs both --console-cert and --console-key for TLS, or neither.")
        if is_loopback(host):
            return cls(host, token, cert, key)
        if token is None:
            raise ValueError(
                f"the console on {host} can move the robot from another machine: give it a token "
                "(robokit keys --out keys writes keys/console.token; --console-token keys/console.token), "
                "or serve it on 127.0.0.1 and use an SSH tunnel."
            )
        if cert is None and not insecure:
            raise ValueError(
                f"the console on {host} would send its token in clear: give it --console-cert and "
                "--console-key, or say --console-insecure on a network you trust."
            )
        plain = f"the console on {host} is served without TLS (--console-insecure)"
        warning = None if cert is not None else plain
        return cls(host, token, cert, key, warning)

    def allows_token(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())


def allowed_origin(origin: str | None, host_header: str | None) -> bool:
    """A browser's WebSocket comes from the console's own page: its Origin names the host it was
    served from. A missing Origin (not a browser: a script with the token) is let through."""
    if origin is None:
        return True
    return host_header is not None and urlsplit(origin).netloc == host_header


def _read_token(path: Path) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as err:
        raise ValueError(
            f"cannot read the console token {path} ({err.strerror}): write one with robokit keys."
        ) from err
    if len(token) < 16:
        raise ValueError(f"{path} holds no usable token: write a new one with robokit keys.")
    return token
