"""Cold first fit: the README's demo command in a new process with empty caches.

What a new user waits for the first time: the demo fit (`bayeslaw fit chinchilla
data/synthetic_families.csv --group family --predict ... --plot ...`) in a fresh Python process,
with bayeslaw's program cache and JAX's caches empty. Reported per run: wall seconds, the seconds
XLA spent compiling and JAX spent tracing (from ``jax_log_compiles``), the number of XLA
compilations, and the largest programs by compile time.

``--against PATH`` runs the same command from another checkout (for example the commit before a
change) in turn with this one, A B A B ..., and reports the ratios pair by pair, so a machine whose
speed drifts during the call still gives a fair ratio. Usage::

    python benchmarks/first_fit.py [--runs 3] [--against /path/to/other/checkout] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ["fit", "chinchilla", "data/synthetic_families.csv", "--group", "family",
        "--predict", "N=7e10,D=1.4e12,family=dense", "--predict", "N=7e10,D=1.4e12"]

#: run in the child: the CLI's main with JAX's compile log counted
CHILD = r"""
import json, logging, re, sys, time
t0 = time.perf_counter()
import jax
jax.config.update("jax_log_compiles", True)
events = []
class Count(logging.Handler):
    def emit(self, record):
        m = re.search(r"Finished (XLA compilation of|tracing) (.*?) in ([\d.]+) sec", record.getMessage())
        if m:
            events.append((m.group(1).split()[0], m.group(2), float(m.group(3))))
logging.getLogger("jax").addHandler(Count())
logging.getLogger("jax").setLevel(logging.WARNING)
logging.getLogger("jax").propagate = False
import runpy
sys.argv = ["bayeslaw", *sys.argv[2:], "--plot", sys.argv[1]]
try:
    runpy.run_module("bayeslaw", run_name="__main__")  # python -m bayeslaw, in both layouts
    code = 0
except SystemExit as done:
    code = done.code
compiles = [e for e in events if e[0] == "XLA"]
print("FIRST_FIT " + json.dumps({
    "rc": code, "wall_s": time.perf_counter() - t0,
    "compile_s": sum(e[2] for e in compiles), "n_compiles": len(compiles),
    "trace_s": sum(e[2] for e in events if e[0] == "tracing"),
    "largest": sorted(([e[1], round(e[2], 2)] for e in compiles), key=lambda e: -e[1])[:5]}))
"""


def run_once(checkout: Path) -> dict:
    """One cold demo fit from ``checkout`` in a fresh process; its figures."""
    with tempfile.TemporaryDirectory(prefix="bayeslaw-first-fit-") as tmp:
        env = {**os.environ, "BAYESLAW_CACHE_DIR": tmp, "PYTHONPATH": str(checkout),
               "JAX_COMPILATION_CACHE_DIR": str(Path(tmp) / "jax")}
        done = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "demo.png"), *DEMO],
                              cwd=checkout, env=env, capture_output=True, text=True, timeout=1800,
                              check=False)
    line = [x for x in done.stdout.splitlines() if x.startswith("FIRST_FIT ")]
    if done.returncode != 0 or not line:
        raise SystemExit(f"first fit from {checkout} failed ({done.returncode}): "
                         f"{done.stderr.strip().splitlines()[-1:] or done.stdout[-300:]}")
    return json.loads(line[0].split(" ", 1)[1])


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each checkout (default 3)")
    parser.add_argument("--against", type=Path, help="another checkout, run in turn with this one")
    parser.add_argument("--out", type=Path, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    this, other = [], []
    for i in range(args.runs):
        this.append(run_once(ROOT))
        print(f"run {i + 1}: this {this[-1]['wall_s']:.1f} s wall, {this[-1]['compile_s']:.1f} s "
              f"compiling ({this[-1]['n_compiles']} programs)", flush=True)
        if args.against:
            other.append(run_once(args.against))
            print(f"        other {other[-1]['wall_s']:.1f} s wall, {other[-1]['compile_s']:.1f} s "
                  f"compiling ({other[-1]['n_compiles']} programs)", flush=True)
    summary = {"this": {k: median(this, k) for k in ("wall_s", "compile_s", "trace_s", "n_compiles")},
               "runs": {"this": this}}
    if other:
        summary["other"] = {k: median(other, k) for k in ("wall_s", "compile_s", "trace_s", "n_compiles")}
        summary["runs"]["other"] = other
        summary["ratio_this_over_other"] = {
            k: statistics.median(a[k] / b[k] for a, b in zip(this, other) if b[k])
            for k in ("wall_s", "compile_s", "n_compiles")}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
