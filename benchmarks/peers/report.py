"""Markdown table of the peer harness's results."""

from __future__ import annotations


def _pct(value, digits: int = 2) -> str:
    return "" if value is None else f"{100 * value:.{digits}f}%"


def _num(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    """One row per (data set, split, tool); skipped splits and tools are listed below it."""
    cfg = report["config"]
    lines = ["# Peer comparison: leave-largest-out splits", "",
             (f"Mode: {'quick' if cfg['quick'] else 'full'}; seed {cfg['seed']}; bayeslaw fit kwargs "
              f"{cfg['bayeslaw_kwargs'] or 'none (defaults)'}. Command: `{cfg['command']}`."), "",
             ("ARE: median absolute relative error of the point prediction. cov: share of held-out "
              "units inside the central interval. IS80/IS95: Winkler interval score as % of the "
              "observed loss, mean over held-out units (lower is better). CRPS: from predictive "
              "draws, % of the observed loss, mean over units. A unit is a run (its final "
              "checkpoint where rows are checkpoints)."), "",
             "| data set | split | cutoff | fit / held out | tool | ARE | cov 50 | cov 80 | cov 95 | IS80 | IS95 | CRPS | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    skipped = []
    for r in report["results"]:
        if r.get("skip"):
            skipped.append(f"- {r['dataset']} / {r['split']}" + (f" / {r['tool']}" if r.get("tool") else "")
                           + f": {r['skip']}")
            continue
        cov, score = r["coverage"], r["interval_score"]
        lines.append(
            f"| {r['dataset']} | {r['split']} | {r['key']} >= {r['cutoff']:.3g} | {r['n_train']} / {r['n_test']} | "
            f"{r['tool']} | {_pct(r['median_are'])} | {_pct(cov['0.5'], 0)} | {_pct(cov['0.8'], 0)} | "
            f"{_pct(cov['0.95'], 0)} | {_num(score['0.8'])} | {_num(score['0.95'])} | {_num(r['crps'], 2)} | "
            f"{r['seconds']:.1f} |")
    if skipped:
        lines += ["", "Skipped:", ""] + skipped
    return "\n".join(lines) + "\n"
