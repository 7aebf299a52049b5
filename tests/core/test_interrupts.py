"""SIGINT and SIGTERM sent to a real ``bayeslaw fit`` process end it with one line and status
130 or 143, at any moment: while importing, compiling, sampling, refitting (the extrapolation's
nested refits) or writing; no traceback, no segfault, no output file and no temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "synthetic_families.csv"
EXPECTED = {signal.SIGINT: (130, "bayeslaw: interrupted\n"), signal.SIGTERM: (143, "bayeslaw: terminated\n")}


def interrupted_fit(folder: Path, sig: int, delay: float) -> tuple[int, str, bool]:
    """Start a fit that writes fit.nc and fit.png, send ``sig`` after ``delay`` seconds; return
    the exit status, stderr, and whether the process was still running when signalled."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               JAX_PLATFORMS="cpu")
    args = [sys.executable, "-m", "bayeslaw", "fit", "chinchilla", str(DATA), "--group", "family",
            "--chains", "2", "--warmup", "300", "--draws", "300", "--no-progress", "--extrapolation", "C",
            "--predict", "N=7e10,D=1.4e12", "--out", "fit.nc", "--plot", "fit.png"]
    # a suite started in the background of a non-interactive shell inherits SIGINT ignored, and
    # the command keeps an ignored SIGINT ignored: give the child the default disposition
    proc = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    running = proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err, running


def check(folder: Path, sig: int, delay: float) -> None:
    code, err, running = interrupted_fit(folder, sig, delay)
    if not running:
        pytest.skip(f"the fit ended within {delay} s, before the signal")
    assert (code, err) == EXPECTED[sig]
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_command_with_one_line(sig, tmp_path):
    check(tmp_path, sig, 2.0)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 1.0, 3.0, 8.0, 15.0, 30.0, 60.0, 120.0])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_at_many_moments(sig, delay, tmp_path):
    check(tmp_path, sig, delay)


def test_in_process_main_restores_the_signal_handlers(monkeypatch):
    from bayeslaw.cli import main as cli

    before = {sig: signal.getsignal(sig) for sig in EXPECTED}
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    with pytest.raises(SystemExit):
        cli.main(["fit", "chinchilla", str(DATA), "--chains", "0"])
    assert {sig: signal.getsignal(sig) for sig in EXPECTED} == before
    assert signal.set_wakeup_fd(-1) == -1


def test_a_temporary_file_is_removed_when_a_signal_ends_the_process(tmp_path):
    code = (
        "import importlib.util, os, signal, sys, time\n"  # the module alone: no numerical stack
        f"spec = importlib.util.spec_from_file_location('interrupts', {str(ROOT / 'bayeslaw' / 'core' / 'interrupts.py')!r})\n"
        "interrupts = importlib.util.module_from_spec(spec); spec.loader.exec_module(interrupts)\n"
        "with interrupts.guard(), interrupts.temporary('half.tmp'):\n"
        "    open('half.tmp', 'w').write('half')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert (result.returncode, result.stderr) == EXPECTED[signal.SIGTERM]
    assert list(tmp_path.iterdir()) == []


def test_the_command_ends_quietly_when_its_reader_closes_the_pipe(tmp_path):
    """`bayeslaw ... | head` raised BrokenPipeError with a traceback; now the command ends with
    128 + SIGPIPE and nothing on stderr, as a command killed by the signal would."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    reader, writer = os.pipe()
    os.close(reader)
    proc = subprocess.run([sys.executable, "-m", "bayeslaw", "laws"], cwd=tmp_path, env=env, stdout=writer,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(writer)
    assert (proc.returncode, proc.stderr) == (128 + signal.SIGPIPE, "")


@pytest.mark.parametrize(("outcome", "code"), [(0, 0), (SystemExit(2), 2), (SystemExit(None), 0),
                                               (SystemExit("text"), 2)])
def test_run_exits_with_main_s_status_without_teardown(monkeypatch, outcome, code):
    """run() ends by os._exit (the interpreter's teardown, in which Ctrl-C lost its line, is
    skipped) with the status main returned or exited with."""
    from bayeslaw.cli import main as cli

    def fake_main():
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    ended = []
    monkeypatch.setattr(cli, "main", fake_main)
    monkeypatch.setattr(cli.os, "_exit", ended.append)
    cli.run()
    assert ended == [code]
