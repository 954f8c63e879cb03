"""CURVE keys for the link (`robokit keys`): who may connect, and encryption of everything sent.

Like SSH, each actor machine has a key pair of its own and the learner keeps the public keys it
accepts in a folder, so one lost or stolen actor machine is revoked by deleting one file:

    KEYS/learner.key, learner.key_secret     the learner's pair (the secret stays on the learner)
    KEYS/authorized/NAME.key                 the actors the learner accepts (checked as they connect)
    KEYS/actors/NAME/                        what actor NAME needs: its own pair + learner.key;
                                             copy this folder to that machine and pass it as --keys

Secret files are written readable by their owner only, and a secret that others can read is
refused. A learner started with --keys KEYS and an actor started with --keys KEYS (one folder on
one machine) also work: the actor then uses the first pair under KEYS/actors.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import stat
import threading
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

SECRET_MODE = 0o600


def create_keys(folder: Path, actors: tuple[str, ...] = ("actor0",)) -> Path:
    """A new keys folder: the learner's pair, and one authorized pair per name in `actors`."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(
            f"{folder} already exists and is not empty: pass a new folder for the keys, or add an actor "
            f"to it with `robokit keys --out {folder} --add-actor NAME`."
        )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    _create_pair(folder, "learner")
    (folder / "authorized").mkdir(mode=0o700)
    for name in actors:
        add_actor(folder, name)
    return folder


def add_actor(folder: Path, name: str) -> Path:
    """A key pair of its own for actor machine `name`, authorized on this learner; returns the
    folder to copy to that machine."""
    folder = Path(folder)
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ValueError(f"actor key name {name!r} is not a plain name: use letters, digits, '-', '_'.")
    if not (folder / "learner.key").is_file() or not (folder / "authorized").is_dir():
        raise FileNotFoundError(
            f"{folder} is not a keys folder: make one with `robokit keys --out {folder}`."
        )
    target = folder / "actors" / name
    if target.exists():
        raise FileExistsError(f"actor {name!r} already has keys in {target}: pick another name.")
    target.mkdir(parents=True, mode=0o700)
    os.chmod(folder / "actors", 0o700)
    _create_pair(target, "actor")
    shutil.copy(folder / "learner.key", target / "learner.key")
    shutil.copy(target / "actor.key", folder / "authorized" / f"{name}.key")
    return target


def _create_pair(folder: Path, name: str) -> None:
    zmq.auth.create_certificates(str(folder), name)
    os.chmod(folder / f"{name}.key_secret", SECRET_MODE)
    os.chmod(folder / f"{name}.key", 0o644)


def _load(folder: Path, name: str, secret: bool) -> tuple[bytes, bytes | None]:
    path = Path(folder) / (f"{name}.key_secret" if secret else f"{name}.key")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: make keys with `robokit keys --out KEYS`.")
    if secret and os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(
            f"{path} is a secret key that other users can read: run `chmod 600 {path}` (and make new keys "
            "if others may have copied it)."
        )
    return zmq.auth.load_certificate(str(path))


def actor_key_folder(folder: Path) -> Path:
    """The folder holding an actor's pair: `folder` itself, or the first of a learner's keys folder's
    actors/ (an actor on the learner's machine)."""
    folder = Path(folder)
    if (folder / "actor.key_secret").exists() or not (folder / "actors").is_dir():
        return folder
    names = sorted(p for p in (folder / "actors").iterdir() if (p / "actor.key_secret").exists())
    return names[0] if names else folder


class _Authorized:
    """The public keys in authorized/, read again whenever the folder changes (a revoked actor is
    refused from its next connection); each refused client is reported once per address and reason."""

    def __init__(self, folder: Path, report):
        self.folder, self.report = folder, report
        self._stamp: tuple | None = None
        self._keys: set[bytes] = set()
        self._reported: set[tuple[str, str]] = set()
        self.address = "?"
        self._lock = threading.Lock()

    def _reload(self) -> None:
        entries = sorted(self.folder.glob("*.key"))
        stamp = (self.folder.stat().st_mtime_ns, tuple((p.name, p.stat().st_mtime_ns) for p in entries))
        if stamp != self._stamp:
            keys = set()
            for path in entries:
                try:
                    keys.add(zmq.auth.load_certificate(str(path))[0])
                except (OSError, ValueError):
                    self.report(f"ignored {path}: not a public key made by `robokit keys`")
            self._keys, self._stamp = keys, stamp

    def callback(self, domain: str, key: bytes) -> bool:
        with self._lock:
            self._reload()
            allowed = key in self._keys
            if not allowed and len(self._reported) < 10_000:
                reason = "its key is not in " + str(self.folder)
                if (self.address, reason) not in self._reported:
                    self._reported.add((self.address, reason))
                    self.report(f"refused a client at {self.address}: {reason}")
            return allowed


class _Authenticator(ThreadAuthenticator):
    """Notes each request's peer address for the key check."""

    authorized: _Authorized

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        if len(msg) >= 4:
            self.authorized.address = msg[3].decode("utf-8", "replace")[:64]
        await super().handle_zap_message(msg)


def secure_learner(context: zmq.Context, sock: zmq.Socket, folder: Path, report=print):
    """Make `sock` a CURVE server that accepts only the actors in `folder`/authorized; refused
    clients are passed to `report` (one line per address and reason)."""
    public, secret = _load(folder, "learner", secret=True)
    authorized_dir = Path(folder) / "authorized"
    if not authorized_dir.is_dir():
        raise FileNotFoundError(f"{authorized_dir} is missing: make keys with `robokit keys --out KEYS`.")
    authenticator = _Authenticator(context)
    authenticator.authorized = _Authorized(authorized_dir, report)
    authenticator.start()
    authenticator.configure_curve_callback(domain="*", credentials_provider=authenticator.authorized)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return authenticator


def actor_keys(folder: Path) -> tuple[bytes, bytes, bytes]:
    """(public, secret, learner's public) of an actor's keys folder; one sentence if unusable."""
    folder = actor_key_folder(folder)
    public, secret = _load(folder, "actor", secret=True)
    server_public, _ = _load(folder, "learner", secret=False)
    return public, secret, server_public


def secure_actor(sock: zmq.Socket, keys: tuple[bytes, bytes, bytes]) -> None:
    sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = keys


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
