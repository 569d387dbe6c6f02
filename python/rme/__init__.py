"""rme: radio map estimation from Python.

numpy in, numpy out, over the project's Rust code (the same code as the ``rme`` command line
and the browser demo):

- ``simulate(preset, seed)``: a sample of a dynamic spectrum preset (D1–D7);
- ``simulate_city(index, split, size, transmitters, seed)``: urban maps with buildings;
- ``estimate(points, values, queries, method=...)``: any method (``methods()``) at query points;
- ``evaluate(estimate, truth)``: RMSE and friends;
- ``PiDrmeClient`` and ``initial_parameters``: a PI-DRME federated client and the server's
  starting point (the Flower app in ``federated/`` uses them).

Every failure raises ``RmeError`` (a ``ValueError``) with the Rust message.
"""

from ._rme import (
    PiDrmeClient,
    RmeError,
    estimate,
    evaluate,
    initial_parameters,
    methods,
    simulate,
    simulate_city,
)

__all__ = [
    "PiDrmeClient",
    "RmeError",
    "estimate",
    "evaluate",
    "initial_parameters",
    "methods",
    "simulate",
    "simulate_city",
]
