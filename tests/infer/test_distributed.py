"""Multi-host smoke test: two processes on loopback joined by ``jax.distributed`` share one batch.

Each process owns one CPU device; ``fit_many`` shards the fits over both (a global mesh) and
gathers every fit back to every process. Skipped where the loopback coordinator cannot start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.heavy  # real posteriors: run with -m heavy (CI does)

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import json, sys, warnings
    import jax
    jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2,
                               process_id=int(sys.argv[2]), initialization_timeout=120)
    import pandas as pd
    import bayeslaw as bl
    from bayeslaw.infer.batch import fit_many
    warnings.simplefilter("ignore")
    runs = bl.load_dataset("synthetic_families")
    tables = [runs[runs.family == f] for f in ("dense", "moe", "wide")]
    fits = fit_many("chinchilla", tables, chains=2, warmup=60, draws=60, seed=0)
    print(json.dumps({"process": jax.process_index(), "processes": jax.process_count(),
                      "local": jax.local_device_count(), "global": jax.device_count(),
                      "devices": [f.config["devices"] for f in fits],
                      "alpha": [f.samples["alpha"].tolist() for f in fits],
                      "E": [float(f.flat("E").mean()) for f in fits]}))
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_share_one_batch(tmp_path):
    try:
        address = f"127.0.0.1:{free_port()}"
    except OSError as exc:
        pytest.skip(f"no loopback networking for the jax.distributed coordinator: {exc}")
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), address, str(i)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=540)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert sorted(o["process"] for o in outputs) == [0, 1]
    for o in outputs:
        assert (o["processes"], o["local"], o["global"]) == (2, 1, 2)
        assert o["devices"] == [2, 2, 2]  # sharded over both processes' devices
    # every process holds every fit, and they are the same draws
    np.testing.assert_array_equal(np.array(outputs[0]["alpha"]), np.array(outputs[1]["alpha"]))
    assert np.array(outputs[0]["alpha"]).shape == (3, 2, 60)
    # each fit is its own family's posterior, not a copy of another lane's
    assert len({round(e, 4) for e in outputs[0]["E"]}) == 3
    assert 1.3 < min(outputs[0]["E"]) and max(outputs[0]["E"]) < 2.4
