"""The link's log lines, rate-limited per kind: a flood of hostile or repeated messages costs a
line a second at most, never a console that scrolls for minutes.

    events = EventLog(per_minute=10)
    events.add("rejected", "rejected a message from 127.0.0.1: undecodable message")
    lines = events.take()   # what to print since the last call, with a count of what was held back
"""

from __future__ import annotations

import logging
import time
from collections import deque

log = logging.getLogger("robokit.link")


class EventLog:
    """Lines by kind: the first `per_minute` of a kind in each minute are kept, the rest counted
    and summed up in one line when the minute ends (or at `take`)."""

    def __init__(self, per_minute: int = 10, window_s: float = 60.0, keep: int = 1000):
        self.per_minute, self.window_s = per_minute, window_s
        self._lines: deque[str] = deque(maxlen=keep)
        self._windows: dict[str, list] = {}  # kind -> [window start, shown, held back]

    def add(self, kind: str, text: str) -> None:
        now = time.monotonic()
        window = self._windows.get(kind)
        if window is None or now - window[0] >= self.window_s:
            self._summarize(kind)
            window = self._windows[kind] = [now, 0, 0]
        if window[1] < self.per_minute:
            window[1] += 1
            log.info(text)
            self._lines.append(text)
        else:
            window[2] += 1

    def take(self) -> list[str]:
        """Lines since the last call; kinds whose minute has ended get their summary line."""
        now = time.monotonic()
        for kind, window in list(self._windows.items()):
            if now - window[0] >= self.window_s:
                self._summarize(kind)
                del self._windows[kind]
        out = list(self._lines)
        self._lines.clear()
        return out

    def _summarize(self, kind: str) -> None:
        window = self._windows.get(kind)
        if window is not None and window[2]:
            text = f"... and {window[2]} more '{kind}' lines like these in {self.window_s:.0f} s, not shown"
            log.info(text)
            self._lines.append(text)
            window[2] = 0
