"""One command runs a PI-DRME experiment on this machine, each party its own process:

    python -m rme_federated.experiment --clients 4 --rounds 8 --out results/pi-drme

It writes each client's private data directory (its city's maps and where it measures, for
every sampling case), starts a Flower SuperLink and one SuperNode per client on 127.0.0.1,
runs the app (``flwr run``) once per mode and case, stops every process it started (by its
own pids, also on failure or Ctrl-C), and writes the table: RMSE in dB per client and overall
(pooled over every test cell), PI-DRME vs standalone vs FL-RME, for the three cases
(uniform 12.5 %; random 1–10 %; unbalanced: half the clients 1 %, half 10 %).
"""

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

APP_DIR = Path(__file__).resolve().parent.parent
MODES = ["pi-drme", "standalone", "fl-rme"]
CASES = {
    "uniform": lambda i, n: "uniform:12.5%",
    "random": lambda i, n: "1-10%",
    "unbalanced": lambda i, n: "1%" if i < n // 2 else "10%",
}
CASE_LABELS = {"uniform": "uniform 12.5 %", "random": "random 1–10 %", "unbalanced": "unbalanced 1 % / 10 %"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float) -> None:
    """Waits until something accepts connections on ``port``; fails if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening on port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout:.0f} s")


class Federation:
    """The SuperLink and the SuperNodes of one experiment; ``stop()`` ends each by its pid."""

    def __init__(self, work: Path, data_dirs: List[Path], env: Dict[str, str]):
        self.work, self.data_dirs, self.env = work, data_dirs, env
        self.procs: List[subprocess.Popen] = []
        self.port = free_port()
        self.flwr_home = work / "flwr-home"

    def _start(self, name: str, args: List[str]) -> subprocess.Popen:
        log = open(self.work / f"{name}.log", "w", encoding="utf-8")
        bin_dir = Path(sys.executable).parent
        proc = subprocess.Popen([str(bin_dir / args[0]), *args[1:]], stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 60) -> None:
        link = self._start(
            "superlink",
            ["flower-superlink", "--insecure", "--host", "127.0.0.1", "--port", str(self.port), "--disable-runtime-dependency-installation"],
        )
        wait_for_port(self.port, link, "flower-superlink", timeout)
        for i, data_dir in enumerate(self.data_dirs):
            node_config = f'data-dir="{data_dir}" partition-id={i} num-partitions={len(self.data_dirs)}'
            node = self._start(
                f"supernode-{i}",
                ["flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{self.port}", "--host", "127.0.0.1", "--port", str(free_port()), "--node-config", node_config],
            )
            time.sleep(0.2)
            if node.poll() is not None:
                raise RuntimeError(f"flower-supernode {i} exited with code {node.returncode}; see {self.work}/supernode-{i}.log")
        self.flwr_home.mkdir(parents=True, exist_ok=True)
        (self.flwr_home / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )

    def run(self, config: Dict[str, object], timeout: float) -> None:
        """``flwr run`` of the app with ``config`` overriding its run config; blocks until done."""
        def toml(v: object) -> str:
            return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else repr(v)

        overrides = " ".join(f"{k}={toml(v)}" for k, v in config.items())
        cmd = [str(Path(sys.executable).parent / "flwr"), "run", str(APP_DIR), "local", "--stream", "--run-config", overrides]
        name = f"run-{config['mode']}-{config['case']}"
        with open(self.work / f"{name}.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
            self.procs.append(proc)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"{name} did not finish within {timeout:.0f} s; see {self.work}/{name}.log")
        if code != 0:
            raise RuntimeError(f"{name} failed with code {code}; see {self.work}/{name}.log")

    def stop(self) -> None:
        """Terminates every process it started (their process groups), then kills stragglers."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()

    def pids(self) -> List[int]:
        return [p.pid for p in self.procs]


def prepare(work: Path, clients: int, size: int, train_maps: int, test_maps: int, cases: List[str], split: str) -> List[Path]:
    """Each client's private data directory: city ``i`` of ``split`` and, per case, its
    measurement scheme."""
    import rme

    from . import client_data

    dirs = []
    for i in range(clients):
        data_dir = work / f"client-{i}"
        city = rme.simulate_city(i, split=split, size=size, transmitters=train_maps + test_maps, seed=1000 * i)
        for case in cases:
            client_data.write(data_dir, case, city, train_maps, CASES[case](i, clients), seed=100 + i)
        dirs.append(data_dir)
    return dirs


def read_scores(record_dir: Path) -> Dict[int, dict]:
    """The last round's score of each client (by partition id)."""
    rows = [json.loads(line) for line in (record_dir / "scores.jsonl").read_text().splitlines() if line.strip()]
    last = max(r["round"] for r in rows)
    return {int(r["partition-id"]): r for r in rows if r["round"] == last}


def pooled(scores: Dict[int, dict]) -> float:
    return math.sqrt(sum(s["squared_error_sum"] for s in scores.values()) / sum(s["count"] for s in scores.values()))


def table(results: Dict[str, Dict[str, Dict[int, dict]]], clients: int, header: List[str]) -> str:
    """Markdown: one block per case, a row per mode, a column per client and overall."""
    lines = header + [""]
    for case, by_mode in results.items():
        lines += [f"### {CASE_LABELS[case]}", "", "| method | " + " | ".join(f"client {i}" for i in range(clients)) + " | overall |", "|---" * (clients + 2) + "|"]
        for mode, scores in by_mode.items():
            cells = [f"{scores[i]['rmse_db']:.2f}" if i in scores else "–" for i in range(clients)]
            lines.append(f"| {mode} | " + " | ".join(cells) + f" | **{pooled(scores):.2f}** |")
        lines.append("")
    return "\n".join(lines)


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: Optional[List[str]] = None) -> int:
    # SIGTERM/SIGHUP (and SIGINT, even where a shell started this in the background with it
    # ignored) unwind through `finally`, which stops every process this command started.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="cells per side of the maps")
    ap.add_argument("--train-maps", type=int, default=24, help="training maps (transmitters) per client")
    ap.add_argument("--test-maps", type=int, default=8, help="test maps per client (other transmitters of its city)")
    ap.add_argument("--cases", default="uniform,random,unbalanced")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--split", default="train", help="which split's cities are the clients' regions")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a run-config value (e.g. mu-gradient=0.05)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the clients' data, logs and records (default: OUT/work)")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.csv (and OUT/work)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds each run may take")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    for c in cases:
        if c not in CASES:
            ap.error(f"--cases: unknown case '{c}' (one of {', '.join(CASES)})")
    for m in modes:
        if m not in MODES:
            ap.error(f"--modes: unknown mode '{m}' (one of {', '.join(MODES)})")
    if args.clients < 2:
        ap.error("--clients: a federation needs at least 2")
    extra: Dict[str, object] = {}
    for kv in args.set:
        key, sep, value = kv.partition("=")
        if not sep:
            ap.error(f"--set {kv}: expected KEY=VALUE")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    work = (args.work or args.out.with_suffix("") / "work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    # The SuperLink and SuperNodes start Flower's own processes (flwr-serverapp,
    # flwr-clientapp) by name: this interpreter's environment (with rme and flwr) comes first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_HOME": str(work / "flwr-home")}
    started = time.time()
    print(f"preparing {args.clients} clients' data in {work}", flush=True)
    data_dirs = prepare(work, args.clients, args.size, args.train_maps, args.test_maps, cases, args.split)
    fed = Federation(work, data_dirs, env)
    results: Dict[str, Dict[str, Dict[int, dict]]] = {}
    timings = []
    try:
        fed.start()
        print(f"superlink on 127.0.0.1:{fed.port}, {args.clients} supernodes (pids {fed.pids()})", flush=True)
        for case in cases:
            results[case] = {}
            for mode in modes:
                record_dir = work / "records" / f"{case}-{mode}"
                if record_dir.exists():
                    for f in record_dir.iterdir():
                        f.unlink()
                t0 = time.time()
                config = {"mode": mode, "case": case, "num-server-rounds": args.rounds, "record-dir": str(record_dir), "min-clients": args.clients, **extra}
                fed.run(config, args.timeout)
                results[case][mode] = read_scores(record_dir)
                timings.append(f"{case}/{mode} {time.time() - t0:.0f} s")
                print(f"{case:>10} {mode:>10}: overall {pooled(results[case][mode]):.2f} dB ({time.time() - t0:.0f} s)", flush=True)
    finally:
        fed.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=APP_DIR).stdout.strip() or "unknown"
    command = "python -m rme_federated.experiment " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [
        "# PI-DRME vs standalone vs FL-RME (federated on Flower, every party its own process)",
        "",
        f"Command: `{command}` (from `federated/`). Commit {commit}; {os.cpu_count()} CPU cores, no GPU; {time.time() - started:.0f} s in all ({'; '.join(timings)}).",
        f"{args.clients} clients, each the city {args.split} #i of the urban simulator at {args.size}², {args.train_maps} training maps and {args.test_maps} test maps (other transmitters of the same city), transmitter known; {args.rounds} rounds.",
        "RMSE in dB over every outdoor test cell after the last round; overall pools all clients' cells.",
    ]
    md = table(results, args.clients, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(md + "\n")
    csv = ["case,method,client,rmse_db,count"]
    for case, by_mode in results.items():
        for mode, scores in by_mode.items():
            for i, s in sorted(scores.items()):
                csv.append(f"{case},{mode},{i},{s['rmse_db']:.4f},{int(s['count'])}")
            csv.append(f"{case},{mode},overall,{pooled(scores):.4f},{int(sum(s['count'] for s in scores.values()))}")
    args.out.with_suffix(".csv").write_text("\n".join(csv) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
