"""The ServerApp: FedAvg over exactly what the run's mode shares (PI-DRME: the shared
module's encoder; FL-RME: the whole model; standalone: nothing), for ``num-server-rounds``.
It writes down every array it is sent (name, shape, dtype) and every client's score, so that
a test can check that nothing but the shared parameters ever reached it."""

import json
import math
from pathlib import Path
from typing import Iterable, Optional, Tuple

import rme
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from . import ROUND_SETTINGS

app = ServerApp()


class RecordingFedAvg(FedAvg):
    """FedAvg that appends what each reply carried to ``received.jsonl`` and the clients'
    scores to ``scores.jsonl`` in ``record_dir``, and pools their RMSE exactly."""

    def __init__(self, record_dir: Optional[Path], clients: int):
        super().__init__(min_train_nodes=clients, min_evaluate_nodes=clients, min_available_nodes=clients)
        self.record_dir = record_dir

    def _append(self, name: str, row: dict) -> None:
        if self.record_dir is not None:
            with open(self.record_dir / name, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def _record_arrays(self, phase: str, server_round: int, replies: Iterable[Message]) -> None:
        for msg in replies:
            if msg.has_error():
                continue
            arrays = [
                {"name": name, "shape": list(array.shape), "dtype": array.dtype}
                for record in msg.content.array_records.values()
                for name, array in record.items()
            ]
            self._append("received.jsonl", {"phase": phase, "round": server_round, "node": msg.metadata.src_node_id, "arrays": arrays})

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> Tuple[Optional[ArrayRecord], Optional[MetricRecord]]:
        replies = list(replies)
        self._record_arrays("train", server_round, replies)
        return super().aggregate_train(server_round, replies)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> Optional[MetricRecord]:
        replies = list(replies)
        self._record_arrays("evaluate", server_round, replies)
        total, count = 0.0, 0.0
        for msg in replies:
            if msg.has_error():
                continue
            m = next(iter(msg.content.metric_records.values()))
            self._append("scores.jsonl", {"round": server_round, "node": msg.metadata.src_node_id, **{k: float(v) for k, v in m.items()}})
            total += float(m["squared_error_sum"])
            count += float(m["count"])
        if count == 0:
            return None
        return MetricRecord({"rmse-db": math.sqrt(total / count), "count": count})


@app.main()
def main(grid: Grid, context: Context) -> None:
    run = context.run_config
    record_dir = Path(str(run["record-dir"])) if str(run["record-dir"]) else None
    if record_dir is not None:
        record_dir.mkdir(parents=True, exist_ok=True)
    clients = int(run.get("min-clients", 2))
    mode = str(run["mode"])
    initial = rme.initial_parameters(mode, str(run["model-config"]), int(run["seed"]))
    strategy = RecordingFedAvg(record_dir, clients)
    train_config = ConfigRecord({key: float(run[key]) for key in ROUND_SETTINGS if key in run})
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord({name: Array(value) for name, value in initial.items()}),
        num_rounds=int(run["num-server-rounds"]),
        train_config=train_config,
    )
    if record_dir is not None:
        final = {str(r): dict(m) for r, m in result.evaluate_metrics_clientapp.items()}
        (record_dir / "result.json").write_text(json.dumps({"mode": mode, "rounds": final}))
