"""Every example runs, top to bottom, with a tiny budget."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_drive_the_arm(capsys):
    worst_mm = load("drive_the_arm").main(laps=1)
    assert worst_mm < 2.0
    assert "box floor 0.1 m" in capsys.readouterr().out


def test_record_and_read_demos():
    demos = load("record_and_read_demos").main(episodes=2, camera_size=32)
    assert len(demos) == 2 and all(d.success for d in demos)
    assert demos[0].observations["wrist"].shape[1:] == (32, 32, 3)


def test_language_corrections(tmp_path):
    import pytest

    pytest.importorskip("sentence_transformers", reason="pip install 'robokit[language]'")
    result = load("language_corrections").main(demos=3, bc_steps=20, episodes=1, folder=tmp_path)
    assert result["demo_successes"] >= 2 and 0.0 <= result["accuracy"] <= 1.0
    assert 0.0 <= result["alone"] <= 1.0 and 0.0 <= result["live"] <= 1.0
