"""The ClientApp: one region's client. Flower starts it anew for every message, so it keeps
nothing in memory: its maps are read from its own data directory (the node config's
``data-dir``) and its model from its state directory there (``runs/<run id>``). It sends back
only what the run's mode shares (``rme.PiDrmeClient.train_round``), and scores."""

from pathlib import Path

import rme
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from . import ROUND_SETTINGS, client_data

app = ClientApp()


def _client(context: Context):
    """The client of this node and run, and its data."""
    data_dir = Path(str(context.node_config["data-dir"]))
    run = context.run_config
    data = client_data.read(data_dir, str(run["case"]))
    state = data_dir / "runs" / f"{run['mode']}-{run['case']}-{context.run_id}"
    client = rme.PiDrmeClient(
        str(state),
        data["train_maps"],
        data["buildings"],
        data["train_tx"],
        float(data["cell_size_m"]),
        tuple(float(v) for v in data["origin_m"]),
        mode=str(run["mode"]),
        sampling=str(data["sampling"]),
        config=str(run["model-config"]),
        seed=int(data["seed"]),
    )
    return client, data


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One local round from the server's arrays; replies with the shared ones and metrics."""
    client, _ = _client(context)
    config = msg.content["config"]
    arrays = msg.content["arrays"]
    global_parameters = {name: array.numpy() for name, array in arrays.items()} if client.mode != "standalone" else None
    settings = {rme_name: float(config[key]) for key, rme_name in ROUND_SETTINGS.items() if key in config}
    sent, metrics = client.train_round(global_parameters, int(config["server-round"]), settings)
    reply = RecordDict(
        {
            "arrays": ArrayRecord({name: Array(value) for name, value in sent.items()}),
            "metrics": MetricRecord({k: float(v) for k, v in metrics.items()}),
        }
    )
    return Message(content=reply, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Scores the client's model on its own test maps (from its own measurements)."""
    client, data = _client(context)
    score = client.evaluate(data["test_maps"], data["test_tx"], seed=int(data["seed"]))
    metrics = {k: float(v) for k, v in score.items()}
    metrics["partition-id"] = float(context.node_config.get("partition-id", -1))
    return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)
