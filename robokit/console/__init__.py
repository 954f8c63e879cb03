"""The operator console: a web page served beside the learner (`robokit train --console PORT`) that
shows each actor's cameras and status and the run's progress, and sends an operator's corrections
through the learner's link (`pip install 'robokit[console]'`)."""

from __future__ import annotations


def require_console() -> None:
    """Raise one sentence naming the extra unless the console's web server can be imported."""
    import importlib.util

    missing = [m for m in ("starlette", "uvicorn", "websockets") if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(
            f"the operator console needs {', '.join(missing)}: pip install 'robokit[console]'."
        )
