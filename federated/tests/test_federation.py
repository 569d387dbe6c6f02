"""The federation end to end: a SuperLink and two SuperNodes as separate processes on
127.0.0.1, two rounds of PI-DRME on a small model, and what the server was sent."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rme

APP = Path(__file__).resolve().parent.parent


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fed") / "table"
    cmd = [
        sys.executable, "-m", "rme_federated.experiment",
        "--clients", "2", "--rounds", "2", "--size", "32", "--train-maps", "3", "--test-maps", "1",
        "--cases", "unbalanced", "--modes", "pi-drme",
        "--set", "batch=2", "--set", "individual-steps=2", "--set", "window=1", "--set", "shared-steps=1",
        "--out", str(out), "--timeout", "240",
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=APP, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout, time.monotonic() - started


def records(out: Path, name: str):
    path = out.with_suffix("") / "work" / "records" / "unbalanced-pi-drme" / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_server_receives_exactly_the_shared_encoder(run):
    out, _, _ = run
    expected = {name: list(value.shape) for name, value in rme.initial_parameters("pi-drme").items()}
    received = records(out, "received.jsonl")
    train = [r for r in received if r["phase"] == "train"]
    # Each reply checked array by array, then: two clients, two rounds.
    for reply in train:
        assert {a["name"]: a["shape"] for a in reply["arrays"]} == expected
        assert len(reply["arrays"]) == len(expected) and all(a["dtype"] == "float32" for a in reply["arrays"])
    assert len(train) == 4 and len({r["node"] for r in train}) == 2
    # Evaluation replies carry scores only.
    assert all(r["arrays"] == [] for r in received if r["phase"] == "evaluate")


def test_every_client_is_scored_every_round_and_the_table_is_written(run):
    out, stdout, seconds = run
    scores = records(out, "scores.jsonl")
    assert sorted((s["round"], int(s["partition-id"])) for s in scores) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert all(s["count"] > 0 for s in scores)
    table = out.with_suffix(".md").read_text()
    assert "unbalanced 1 % / 10 %" in table and "| pi-drme |" in table
    assert seconds < 300


def test_every_process_it_started_is_stopped(run):
    _, stdout, _ = run
    line = next(l for l in stdout.splitlines() if "supernodes (pids" in l)
    pids = json.loads(line.split("(pids ", 1)[1].rstrip(")"))
    assert len(pids) == 3 and not any(alive(p) for p in pids)
