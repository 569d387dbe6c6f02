"""Type hints of the Rust extension ``rme._rme`` (re-exported by ``rme``)."""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

class RmeError(ValueError):
    """Bad input, a bad file, or a failed computation; the message names the thing."""

def simulate(preset: str, seed: int = 0) -> Dict[str, Any]:
    """One sample of a dynamic preset (D1–D7): ``values`` float32 [slots, bands, rows, cols]
    (dBm), ``slots_s``, ``bands_hz``, ``cell_size_m``, ``origin_m``, ``tx`` (list of [slots, 3]
    arrays) and ``id``."""

def simulate_city(
    index: int, split: str = "train", size: int = 128, transmitters: int = 1, seed: int = 0
) -> Dict[str, Any]:
    """Maps of the ``index``-th city of ``split``: ``maps`` float32 [transmitters, size, size]
    (dB), ``buildings`` uint8 [size, size], ``tx`` float64 [transmitters, 3],
    ``cell_size_m``, ``origin_m``, ``city``."""

def methods() -> List[str]:
    """The method names ``estimate`` accepts from the working directory."""

def estimate(
    points: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    method: str = "kriging",
    weights: Optional[str] = None,
    tx: Optional[Tuple[float, float, float]] = None,
    city: Optional[Dict[str, Any]] = None,
    t_s: float = 0.0,
    freq_hz: float = float("nan"),
) -> Tuple[npt.NDArray[np.float64], Optional[npt.NDArray[np.float64]]]:
    """``(mean, std)`` at ``queries`` [m, 2] from ``values`` [n] measured at ``points`` [n, 2];
    ``std`` is None for methods without one."""

def evaluate(estimate: npt.NDArray[np.float64], truth: npt.NDArray[np.float64]) -> Dict[str, float]:
    """``rmse``, ``mae``, ``count``, ``squared_error_sum`` over the cells where ``truth`` is
    not NaN."""

def initial_parameters(mode: str, config: str = "small", seed: int = 0) -> Dict[str, npt.NDArray[np.float32]]:
    """The parameters ``mode`` shares ("pi-drme": the shared encoder; "fl-rme": all;
    "standalone": none) of a fresh ``config`` network drawn from ``seed``."""

class PiDrmeClient:
    """A federated client whose model lives in ``state_dir`` between rounds."""

    def __init__(
        self,
        state_dir: str,
        maps: npt.NDArray[np.float32],
        buildings: npt.NDArray[np.uint8],
        tx: npt.NDArray[np.float64],
        cell_size_m: float,
        origin_m: Tuple[float, float] = (0.0, 0.0),
        mode: str = "pi-drme",
        sampling: str = "uniform:12.5%",
        config: str = "small",
        seed: int = 0,
    ) -> None: ...
    @property
    def state_dir(self) -> str: ...
    @property
    def mode(self) -> str: ...
    def shared_parameters(self) -> Dict[str, npt.NDArray[np.float32]]:
        """What the client would send now."""
    def train_round(
        self,
        global_parameters: Optional[Dict[str, npt.NDArray[np.float32]]],
        round: int,
        settings: Optional[Dict[str, float]] = None,
    ) -> Tuple[Dict[str, npt.NDArray[np.float32]], Dict[str, float]]:
        """One round from the server's parameters: ``(parameters to send, metrics)``."""
    def evaluate(
        self,
        maps: npt.NDArray[np.float32],
        tx: npt.NDArray[np.float64],
        sampling: Optional[str] = None,
        seed: int = 0,
    ) -> Dict[str, float]:
        """``rmse_db``, ``count``, ``squared_error_sum``, ``num-examples`` on test maps."""
