"""The console's command-line options, shared by every command that can serve the page (`robokit
train`, `robokit train-reset-free`); no web library is imported here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConsoleFlags:
    console: int | None = None
    """Serve the operator console (a web page: cameras, progress, corrections, labels, pause and
    stop) on this port, on --console-host; needs `pip install 'robokit[console]'`."""
    console_host: str = "127.0.0.1"
    """Address the console listens on; anything but loopback needs --console-token and TLS."""
    console_token: Path | None = None
    """A file with the console's secret token (`robokit keys --out KEYS` writes KEYS/console.token)."""
    console_cert: Path | None = None
    """TLS certificate (PEM) for the console."""
    console_key: Path | None = None
    """TLS private key (PEM) for the console."""
    console_insecure: bool = False
    """Serve the console off loopback without TLS (its token then travels in clear)."""

    def console_options(self):
        """The console's options (robokit.console.server.ConsoleOptions), checked (a missing extra
        or token is one sentence, before any work), or None without --console."""
        if self.console is None:
            return None
        from robokit.console import require_console
        from robokit.console.security import ListenPolicy

        require_console()
        ListenPolicy.check(
            self.console_host, self.console_token, self.console_cert, self.console_key, self.console_insecure
        )
        from robokit.console.server import ConsoleOptions

        return ConsoleOptions(
            self.console, self.console_host, self.console_token, self.console_cert, self.console_key,
            self.console_insecure,
        )  # fmt: skip
