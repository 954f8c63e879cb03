"""An operator's verdicts on the successes a reward classifier claims (robokit.rewards.success_checks):
a Labeller that waits, at each claim, until a person answers, from the console's Success / Failure
buttons or a key press in the terminal (s confirms, f rejects).

    verdicts = OperatorVerdicts(say=print, wait_s=120)
    checks = SuccessChecks(classifiers, labeller=verdicts)     # train-reset-free --labeller operator
    verdicts.give(True)        # the console's Success button, or 's' in the terminal

A claim nobody answers within `wait_s` counts as rejected: no reward is given for a success nobody
confirmed. An answer while no claim waits is ignored (a late click never decides the next claim).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class OperatorVerdicts:
    def __init__(self, say: Callable[[str], None] = print, wait_s: float | None = None):
        self.say, self.wait_s = say, wait_s
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.asking = False
        self.asked = self.unanswered = 0

    def give(self, success: bool) -> bool:
        """The operator's answer; True if a claim was waiting for it."""
        with self._lock:
            if self.asking:
                self._answers.put(bool(success))
            return self.asking

    def __call__(self, info: dict) -> bool:
        with self._lock:
            while not self._answers.empty():  # a second click on the last claim
                self._answers.get_nowait()
            self.asking = True
            self.asked += 1
        self.say(
            f"claim {self.asked}: the classifier says the task is done. Confirm with s (or the "
            "console's Success), reject with f (or Failure)"
        )
        try:
            verdict = self._answers.get(timeout=self.wait_s)
        except queue.Empty:
            self.unanswered += 1
            self.say(f"claim {self.asked}: no answer within {self.wait_s:g} s: counted as rejected")
            verdict = False
        finally:
            with self._lock:
                self.asking = False
        return verdict
