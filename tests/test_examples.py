"""Every example runs, top to bottom, with a tiny budget."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from robokit.data.datasets import read_episodes

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
    example = load("language_corrections")
    result = example.main(demos=3, bc_steps=20, episodes=1, rounds=1, folder=tmp_path, finetune_steps=20)
    run = result["seeds"][0]
    assert run["demo_successes"] >= 1 and [r["round"] for r in run["rounds"]] == [0, 1]
    for row in run["rounds"]:
        assert 0.0 <= row["alone"] <= 1.0 and 0.0 <= row["live"] <= 1.0
        assert 0.0 <= row["held_out_accuracy"] <= 1.0
    # what round 0's operator said, as a Minari dataset
    corrected = read_episodes(tmp_path / "seed_0" / "corrections_0")
    assert {"instruction_id", "corrected", "practice"} <= set(corrected[0].infos)
    assert (tmp_path / "seed_0" / "corrections.png").stat().st_size > 0
    assert [row["round"] for row in json.loads((tmp_path / "summary.json").read_text())["means"]] == [0, 1]
