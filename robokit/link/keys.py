"""CURVE keys for the link (`robokit keys`): who may connect, and encryption of everything sent.

A keys folder holds the learner's key pair (learner.key, learner.key_secret), one actor key pair
(actor.key, actor.key_secret) and `authorized/`, the actor public keys the learner accepts. Copy
the folder to every actor machine; it holds secrets, so it is created readable by its owner only.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
from pathlib import Path

import zmq
import zmq.auth


def create_keys(folder: Path) -> Path:
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} already exists and is not empty: pass a new folder for the keys.")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    zmq.auth.create_certificates(str(folder), "learner")
    zmq.auth.create_certificates(str(folder), "actor")
    authorized = folder / "authorized"
    authorized.mkdir(mode=0o700)
    shutil.copy(folder / "actor.key", authorized / "actor.key")
    return folder


def _load(folder: Path, name: str, secret: bool) -> tuple[bytes, bytes | None]:
    path = Path(folder) / (f"{name}.key_secret" if secret else f"{name}.key")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: make keys with `robokit keys --out {folder}`.")
    return zmq.auth.load_certificate(str(path))


def secure_learner(context: zmq.Context, sock: zmq.Socket, folder: Path):
    """Make `sock` a CURVE server that accepts only the actors in `folder`/authorized."""
    from zmq.auth.thread import ThreadAuthenticator

    public, secret = _load(folder, "learner", secret=True)
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(Path(folder) / "authorized"))
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return authenticator


def secure_actor(sock: zmq.Socket, folder: Path) -> None:
    public, secret = _load(folder, "actor", secret=True)
    server_public, _ = _load(folder, "learner", secret=False)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = secret, public, server_public


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def check_listen_address(address: str, keys: Path | None) -> tuple[str, int]:
    """(host, port) to listen on; one sentence if it is malformed, or not loopback and keyless."""
    host, port = split_address(address)
    if keys is None and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host} without keys: run `robokit keys --out KEYS` and pass "
            "--keys KEYS, or listen on 127.0.0.1."
        )
    return host, port


def split_address(address: str) -> tuple[str, int]:
    """HOST:PORT (or tcp://HOST:PORT) -> (host, port), with one sentence for anything else."""
    text = address.removeprefix("tcp://")
    host, _, port = text.rpartition(":")
    if not host or ":" in host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(
            f"link address {address!r} is not HOST:PORT: pass e.g. 127.0.0.1:5555 (port 0 picks a free one)."
        )
    return host, int(port)
