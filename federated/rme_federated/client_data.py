"""A client's private directory: its region's maps (``<case>/data.npz``) and where its
measurements are (``<case>/setup.json``), written once by whoever owns the data (here the
experiment command), read by the ClientApp at every message. Nothing in it travels."""

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np


def write(data_dir: Path, case: str, city: Dict[str, Any], train_maps: int, sampling: str, seed: int) -> None:
    """Stores a ``rme.simulate_city`` dict: its first ``train_maps`` maps train, the rest test."""
    folder = Path(data_dir) / case
    folder.mkdir(parents=True, exist_ok=True)
    maps, tx = city["maps"], city["tx"]
    if not 0 < train_maps < len(maps):
        raise ValueError(f"train_maps {train_maps}: the city has {len(maps)} maps, and both sets need one")
    np.savez(
        folder / "data.npz",
        train_maps=maps[:train_maps],
        train_tx=tx[:train_maps],
        test_maps=maps[train_maps:],
        test_tx=tx[train_maps:],
        buildings=city["buildings"],
        cell_size_m=np.float64(city["cell_size_m"]),
        origin_m=np.asarray(city["origin_m"], dtype=np.float64),
    )
    setup = {"sampling": sampling, "seed": seed, "city": city["city"]}
    (folder / "setup.json").write_text(json.dumps(setup))


def read(data_dir: Path, case: str) -> Dict[str, Any]:
    """The arrays and the setup of ``case``; errors name the missing file."""
    folder = Path(data_dir) / case
    for name in ("data.npz", "setup.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: the client has no data for case '{case}'")
    with np.load(folder / "data.npz") as npz:
        out: Dict[str, Any] = {k: npz[k] for k in npz.files}
    out.update(json.loads((folder / "setup.json").read_text()))
    return out
