"""Markdown table of the peer harness's results."""

from __future__ import annotations


def _pct(value, digits: int = 2) -> str:
    return "" if value is None else f"{100 * value:.{digits}f}%"


def _num(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def summary(results: list[dict]) -> dict:
    """Per tool, over the splits it was scored on: splits, pooled coverage (each held-out unit
    once), mean interval scores and CRPS, and on how many splits it was best or near best (median
    ARE within 1.1x of the best tool's, lowest IS80 and IS95 among the tools with intervals)."""
    scored = [r for r in results if not r.get("skip")]
    by_split: dict[tuple, list[dict]] = {}
    for r in scored:
        by_split.setdefault((r["dataset"], r["split"]), []).append(r)
    out: dict[str, dict] = {}
    for r in scored:
        t = out.setdefault(r["tool"], {"splits": 0, "units": 0, "inside": {}, "is": {}, "crps": [],
                                       "are": [], "are_within_1.1x_best": 0, "best_is": {"0.8": 0, "0.95": 0}})
        t["splits"] += 1
        t["are"].append(r["median_are"])
        if r["crps"] is not None:
            t["crps"].append(r["crps"])
        if r["coverage"]["0.8"] is not None:
            t["units"] += r["n_test"]
            for p, c in r["coverage"].items():
                t["inside"][p] = t["inside"].get(p, 0.0) + c * r["n_test"]
            for p, v in r["interval_score"].items():
                t["is"].setdefault(p, []).append(v)
    for rows in by_split.values():
        best = min(r["median_are"] for r in rows)
        for r in rows:
            out[r["tool"]]["are_within_1.1x_best"] += int(r["median_are"] <= 1.1 * best)
        for p in ("0.8", "0.95"):
            with_is = [r for r in rows if r["interval_score"][p] is not None]
            if with_is:
                out[min(with_is, key=lambda r: r["interval_score"][p])["tool"]]["best_is"][p] += 1
    for t in out.values():
        t["median_are_over_splits"] = _median(t.pop("are"))
        t["pooled_coverage"] = {p: k / t["units"] for p, k in t.pop("inside").items()} if t["units"] else None
        t["mean_is"] = {p: sum(v) / len(v) for p, v in t.pop("is").items()}
        crps = t.pop("crps")
        t["mean_crps"] = sum(crps) / len(crps) if crps else None
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _cost(info: dict) -> str:
    """The extrapolation error's share of a fit's time and its nested fits' largest R-hat, where
    recorded: ``; fit 12.0 s + extrapolation error 20.1 s (1.7x), nested R-hat 1.03``."""
    timings = info.get("timings") or {}
    if "extrapolation_s" not in timings:
        return ""
    extra = timings["extrapolation_s"]
    plain = timings["total_s"] - extra
    text = f"; fit {plain:.1f} s + extrapolation error {extra:.1f} s ({extra / plain:.1f}x)"
    if "nested_r_hat" in info:
        text += f", nested R-hat {info['nested_r_hat']:.2f}"
    return text


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
    lines += ["", ("Summary over the scored splits (coverage pooled over held-out units; 'ARE <= 1.1x "
                   "best': splits where the tool's median ARE is within 1.1x of the best tool's; 'best "
                   "IS': splits where it has the lowest interval score among the tools with intervals):"), "",
              "| tool | splits | median ARE (median over splits) | ARE <= 1.1x best | cov 50 / 80 / 95 (pooled) | mean IS80 | mean IS95 | best IS80 / IS95 | mean CRPS |",
              "|---|---|---|---|---|---|---|---|---|"]
    for tool, t in summary(report["results"]).items():
        cov = t["pooled_coverage"]
        cov_cell = "" if cov is None else " / ".join(_pct(cov[p], 0) for p in ("0.5", "0.8", "0.95"))
        lines.append(f"| {tool} | {t['splits']} | {_pct(t['median_are_over_splits'])} | {t['are_within_1.1x_best']} | "
                     f"{cov_cell} | {_num(t['mean_is'].get('0.8'))} | {_num(t['mean_is'].get('0.95'))} | "
                     f"{t['best_is']['0.8']} / {t['best_is']['0.95']} | {_num(t['mean_crps'], 2)} |")
    fits = [r for r in report["results"] if not r.get("skip") and "max_r_hat" in r.get("info", {})]
    if fits:
        lines += ["", "bayeslaw's sampler per split (sampler, largest R-hat, smallest bulk ESS where "
                  "recorded, divergences):", ""]
        lines += [f"- {r['dataset']} / {r['split']}" + ("" if r["tool"] == "bayeslaw" else f" / {r['tool']}")
                  + f": {r['info']['sampler']}, R-hat {r['info']['max_r_hat']:.3f}, "
                  + (f"ESS {r['info']['min_ess_bulk']:.0f}, " if "min_ess_bulk" in r["info"] else "")
                  + f"{r['info']['divergences']} divergences" + _cost(r["info"]) for r in fits]
    if skipped:
        lines += ["", "Skipped:", ""] + skipped
    return "\n".join(lines) + "\n"
