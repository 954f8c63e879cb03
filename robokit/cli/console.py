"""`robokit console`: the operator console in its own process, showing a running learner."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Console:
    """Serve the operator console for a running learner (`robokit train` / `robokit learner`), over
    its link: watch its actors' cameras and progress, correct, label, pause and stop them from a
    browser. (`robokit train --console PORT` serves the same page from inside the learner.)"""

    learner: str = "127.0.0.1:5555"
    """The learner's HOST:PORT (printed by `robokit train` / `robokit learner`)."""
    keys: Path | None = None
    """An authorized actor keys folder (`robokit keys --out KEYS --add-actor operator`), when the
    learner uses keys."""
    port: int = 8080
    """The page's port (0: a free one)."""
    host: str = "127.0.0.1"
    """The page's address. Any other than loopback needs --token, and --cert/--key or --insecure."""
    token: Path | None = None
    """A file holding the page's secret (`robokit keys` writes KEYS/console.token)."""
    cert: Path | None = None
    """TLS certificate (PEM) for the page."""
    key: Path | None = None
    """TLS private key (PEM) for the page."""
    insecure: bool = False
    """Serve plain HTTP off loopback (the token crosses the network in clear: a trusted LAN only)."""
    instructions: Path | None = None
    """An instruction table (a run's instructions.npz, or an instructor folder's) for the known
    corrections; other phrases need the language extra's encoder."""
    log: Path = Path("console") / "interventions.jsonl"
    """Where this console logs every command from its page (the learner keeps its own records)."""


def run(options: Console) -> None:
    from robokit.console import require_console

    require_console()
    from robokit.console.app import make_app
    from robokit.console.commands import ConsoleCommands
    from robokit.console.remote import RemoteHub
    from robokit.console.security import ListenPolicy
    from robokit.console.server import ConsoleOptions, serve
    from robokit.language.encoder import EmbeddingTable

    policy = ListenPolicy.check(options.host, options.token, options.cert, options.key, options.insecure)
    table = EmbeddingTable.open(_table_path(options.instructions)) if options.instructions else None
    hub = RemoteHub(options.learner, options.keys)
    try:
        commands = ConsoleCommands(
            hub.send, table or EmbeddingTable(), options.log, lambda: hub.actors,
            lambda actor, command, who: hub.send({"t": "control", "actor": actor, "command": command}),
        )  # fmt: skip
        page = ConsoleOptions(
            options.port, options.host, options.token, options.cert, options.key, options.insecure
        )
        server = serve(make_app(hub, commands, policy), page, policy)
        print(f"showing the learner at {options.learner}; Ctrl-C to stop")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        server.close()
    finally:
        hub.close()


def _table_path(path: Path) -> Path:
    path = Path(path)
    return path / "instructions.npz" if path.is_dir() else path
