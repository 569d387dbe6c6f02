"""The Python package over the Rust code: shapes, numbers and errors as a user meets them."""

import math

import numpy as np
import pytest

import rme


def test_simulate_a_preset_is_reproducible():
    a, b = rme.simulate("D7", seed=3), rme.simulate("D7", seed=3)
    t, f, h, w = a["values"].shape
    assert a["values"].dtype == np.float32 and h == w and t >= 1 and f >= 1
    assert np.array_equal(a["values"], b["values"], equal_nan=True)
    assert not np.array_equal(a["values"], rme.simulate("D7", seed=4)["values"], equal_nan=True)
    assert len(a["slots_s"]) == t and len(a["bands_hz"]) == f
    assert all(track.shape == (t, 3) for track in a["tx"])
    with pytest.raises(rme.RmeError, match="D9"):
        rme.simulate("D9")


def test_simulate_city_has_buildings_and_one_transmitter_per_map():
    c = rme.simulate_city(2, split="test", size=32, transmitters=3, seed=5)
    assert c["maps"].shape == (3, 32, 32) and c["buildings"].shape == (32, 32) and c["tx"].shape == (3, 3)
    assert 0 < c["buildings"].mean() < 1
    assert c["cell_size_m"] * 32 == pytest.approx(256.0)
    # Another split is another city.
    other = rme.simulate_city(2, split="train", size=32, transmitters=1, seed=5)
    assert not np.array_equal(other["buildings"], c["buildings"])
    with pytest.raises(rme.RmeError, match="split"):
        rme.simulate_city(0, split="holdout")
    with pytest.raises(rme.RmeError, match="size"):
        rme.simulate_city(0, size=8)


def field(points):
    return -60.0 - 0.05 * points[:, 0] + 0.02 * points[:, 1]


def test_estimate_interpolates_a_plane_and_reports_std_where_it_has_one():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 200, size=(80, 2))
    queries = rng.uniform(20, 180, size=(30, 2))
    mean, std = rme.estimate(points, field(points), queries, method="kriging")
    assert mean.shape == (30,) and std is not None and np.all(std >= 0)
    assert np.sqrt(np.mean((mean - field(queries)) ** 2)) < 0.5
    mean_idw, std_idw = rme.estimate(points, field(points), queries, method="idw")
    assert mean_idw.shape == (30,) and std_idw is None
    assert "kriging" in rme.methods() and "fm-rme" in rme.methods()


def test_estimate_names_bad_input():
    pts = np.zeros((5, 2)) + np.arange(5)[:, None]
    vals = np.arange(5, dtype=float)
    with pytest.raises(rme.RmeError, match="values: 3 of them for 5 points"):
        rme.estimate(pts, vals[:3], pts)
    with pytest.raises(rme.RmeError, match=r"points: shape \[5, 3\]"):
        rme.estimate(np.zeros((5, 3)), vals, pts)
    bad = pts.copy()
    bad[2, 0] = np.nan
    with pytest.raises(rme.RmeError, match="points: row 2"):
        rme.estimate(bad, vals, pts)
    with pytest.raises(rme.RmeError, match="unknown method|nearest"):
        rme.estimate(pts, vals, pts, method="nearest")
    with pytest.raises(rme.RmeError, match="empty"):
        rme.estimate(np.zeros((0, 2)), np.zeros(0), pts)
    with pytest.raises(rme.RmeError, match="model.bpk|manifest"):
        rme.estimate(pts, vals, pts, method="fm-rme", weights="/nonexistent/weights")


def test_evaluate_by_hand_and_skips_missing_truth():
    est = np.array([1.0, 2.0, 3.0, 4.0])
    truth = np.array([1.0, 4.0, np.nan, 1.0])
    s = rme.evaluate(est, truth)
    # Errors 0, −2, 3 over three cells: MSE 13/3.
    assert s["count"] == 3 and s["squared_error_sum"] == pytest.approx(13.0)
    assert s["rmse"] == pytest.approx(math.sqrt(13 / 3)) and s["mae"] == pytest.approx(5 / 3)
    with pytest.raises(rme.RmeError, match="shape"):
        rme.evaluate(est, truth[:2])


def test_initial_parameters_share_what_each_mode_says():
    pi = rme.initial_parameters("pi-drme")
    full = rme.initial_parameters("fl-rme")
    assert pi and all(name.startswith("common.encoder.") for name in pi)
    assert {k: v.shape for k, v in pi.items()} == {k: v.shape for k, v in full.items() if k.startswith("common.encoder.")}
    assert any(k.startswith("individual.") for k in full) and any(k.startswith("common.decoder.") for k in full)
    assert rme.initial_parameters("standalone") == {}
    assert all(np.array_equal(pi[k], rme.initial_parameters("pi-drme")[k]) for k in pi)
    with pytest.raises(rme.RmeError, match="fedprox"):
        rme.initial_parameters("fedprox")


# Two shared steps: the zero-started head moves in the first, the encoder from the second.
TINY = {"batch": 2, "individual_steps": 2, "window": 1, "shared_steps": 2}


def client(tmp_path, mode="pi-drme", seed=1):
    c = rme.simulate_city(1, size=32, transmitters=3, seed=7)
    return rme.PiDrmeClient(str(tmp_path / "state"), c["maps"], c["buildings"], c["tx"], c["cell_size_m"], c["origin_m"], mode=mode, sampling="10%", seed=seed), c


def test_a_client_trains_a_round_keeps_its_state_and_sends_only_the_shared_encoder(tmp_path):
    cl, c = client(tmp_path)
    global_parameters = rme.initial_parameters("pi-drme")
    sent, metrics = cl.train_round(global_parameters, 1, TINY)
    assert {k: v.shape for k, v in sent.items()} == {k: v.shape for k, v in global_parameters.items()}
    assert any(not np.array_equal(sent[k], global_parameters[k]) for k in sent)
    assert metrics["num-examples"] == 3 and metrics["individual-steps"] == 2 and metrics["shared-steps"] == 2
    assert (tmp_path / "state" / "model.bpk").is_file()
    # A new process (a new object) starts from the kept model.
    again, _ = client(tmp_path)
    assert all(np.array_equal(again.shared_parameters()[k], sent[k]) for k in sent)
    score = again.evaluate(c["maps"], c["tx"])
    assert score["count"] > 0 and math.isfinite(score["rmse_db"])
    assert score["rmse_db"] == pytest.approx(math.sqrt(score["squared_error_sum"] / score["count"]))


def test_a_client_refuses_what_does_not_fit(tmp_path):
    cl, c = client(tmp_path)
    g = rme.initial_parameters("pi-drme")
    name = next(iter(g))
    with pytest.raises(rme.RmeError, match=f"parameter {name}: missing"):
        cl.train_round({k: v for k, v in g.items() if k != name}, 1, TINY)
    with pytest.raises(rme.RmeError, match="not one of the module.s shared parameters"):
        cl.train_round(rme.initial_parameters("fl-rme"), 1, TINY)
    with pytest.raises(rme.RmeError, match="unknown round setting 'steps'"):
        cl.train_round(g, 1, {"steps": 3})
    with pytest.raises(rme.RmeError, match="lr"):
        cl.train_round(g, 1, {**TINY, "lr": -1.0})
    # The state directory belongs to this client's mode and seed.
    with pytest.raises(rme.RmeError, match="another state_dir"):
        client(tmp_path, mode="fl-rme")
    with pytest.raises(rme.RmeError, match="tx: shape"):
        rme.PiDrmeClient(str(tmp_path / "x"), c["maps"], c["buildings"], c["tx"][:2], c["cell_size_m"])
    with pytest.raises(rme.RmeError, match="multiple of 8"):
        rme.PiDrmeClient(str(tmp_path / "y"), c["maps"][:, :30, :30], c["buildings"][:30, :30], c["tx"], c["cell_size_m"])
    with pytest.raises(rme.RmeError, match="sampling"):
        rme.PiDrmeClient(str(tmp_path / "z"), c["maps"], c["buildings"], c["tx"], c["cell_size_m"], sampling="lots")
