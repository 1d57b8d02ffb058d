"""The windowed goodness-of-fit section of ``docs/validation.md``: every window and dimension, the
stationary one-exponential-per-pair model beside the model the information criterion chose.

Kept apart from :mod:`simulator.validation_report` so each stays small; this module only formats
what :mod:`simulator.calibration.windows` computed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from simulator.calibration.windows import WindowFit

LEVEL = 0.05


def _hhmm(seconds_after_midnight: float) -> str:
    h, rem = divmod(round(seconds_after_midnight), 3600)
    return f"{h:02d}:{rem // 60:02d}"


def window_label(w: WindowFit, clock_offset_s: float | None) -> str:
    """``HH:MM-HH:MM`` with a clock offset (seconds after midnight of the window's 0), else seconds."""
    return (f"{_hhmm(clock_offset_s + w.start_s)}-{_hhmm(clock_offset_s + w.end_s)}"
            if clock_offset_s is not None else f"0-{w.end_s:.0f} s")


def pass_counts(wins: list[WindowFit]) -> tuple[int, int, int, int]:
    """(fitted dimensions, passes of the reference model, of the BIC choice, of the AIC choice) at 5%."""
    n = sum(len(w.dims) for w in wins)
    return (n, sum(w.passes("reference", LEVEL) for w in wins), sum(w.passes("chosen", LEVEL) for w in wins),
            sum(w.passes("aic", LEVEL) for w in wins))


def count(wins: list[WindowFit], which: str) -> int:
    """KS passes at 5% of one model column (a :meth:`WindowFit.passes` key) over windows."""
    return sum(w.passes(which, LEVEL) for w in wins)


def state_counts(wins: list[WindowFit]) -> tuple[int, int, int]:
    """(KS passes of the spread-modulated model, of the multi-scale model it scales, windows where
    BIC prefers the modulated one)."""
    base = sum(sum(p > LEVEL for _, p in w.candidate_ks(w.state_base)) for w in wins)
    return (sum(w.passes("state", LEVEL) for w in wins), base,
            sum(w.state_bic < w.state_base_bic for w in wins))


def window_table(wins: list[WindowFit], clock_offset_s: float | None) -> str:
    """One row per (window, dimension); ``clock_offset_s`` turns window starts into a time of day."""
    rows = ["| window | dimension | events | exp per pair: KS | p | chosen model: KS | p | "
            "x spread state: KS | p | x own age: KS | p | x state x age: KS | p | BIC's runnable choice: KS | p | "
            "AIC's runnable choice: KS | p |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w in wins:
        label = (f"{_hhmm(clock_offset_s + w.start_s)}-{_hhmm(clock_offset_s + w.end_s)}"
                 if clock_offset_s is not None else f"0-{w.end_s:.0f} s")
        for k, name in enumerate(w.dims):
            (rs, rp), (cs, cp), (ss, sp), (a_s, a_p), (b_s, b_p), (vs, vp), (us, up) = (
                w.reference_ks[k], w.chosen_ks[k], w.state_ks[k], w.age_ks[k], w.both_ks[k], w.run_ks[k],
                w.run_aic_ks[k])

            def mark(p: float) -> str:
                return f"**{p:.3f}**" if p > LEVEL else f"{p:.2g}"

            rows.append(f"| {label} | {name} | {w.counts[k]} | {rs:.3f} | {mark(rp)} | {cs:.3f} | {mark(cp)} | "
                        f"{ss:.3f} | {mark(sp)} | {a_s:.3f} | {mark(a_p)} | {b_s:.3f} | {mark(b_p)} | "
                        f"{vs:.3f} | {mark(vp)} | {us:.3f} | {mark(up)} |")
    return "\n".join(rows)


def choice_table(wins: list[WindowFit], clock_offset_s: float | None) -> str:
    rows = ["| window | events | chosen by BIC | BIC of exp per pair | BIC of chosen | passes exp per pair | "
            "passes chosen | spread partition (BIC) | spread classes | BIC: best multi-scale -> x spread state | "
            "passes x spread state | BIC of x own age | passes x own age | x own age simulated (bound) | "
            "runnable x own age: constraint | BIC of runnable x own age | passes runnable x own age | "
            "BIC of x state x age | "
            "passes x state x age | chosen by BIC among runnable | chosen by AIC among runnable | "
            "chosen by BIC among all | chosen by AIC among all |",
            "|---|---:|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|---|---|---|"]
    for w in wins:
        label = (f"{_hhmm(clock_offset_s + w.start_s)}-{_hhmm(clock_offset_s + w.end_s)}"
                 if clock_offset_s is not None else f"0-{w.end_s:.0f} s")
        ref_bic = next(c[3] for c in w.candidates if c[0].startswith("exp per pair"))
        best_bic = min(c[3] for c in w.candidates)
        rows.append(f"| {label} | {w.n_events} | {w.chosen} | {ref_bic:.0f} | {best_bic:.0f} | "
                    f"{w.passes('reference')}/{len(w.dims)} | {w.passes('chosen')}/{len(w.dims)} | "
                    f"{w.state_partition} | {w.state_classes} | {w.state_base_bic:.0f} -> {w.state_bic:.0f} | "
                    f"{w.passes('state')}/{len(w.dims)} | {w.age_bic:.0f} | {w.passes('age')}/{len(w.dims)} | "
                    f"{'stable' if w.age_stable else 'explodes'} ({w.age_bound:.2f}) | "
                    f"{w.age_constraint or 'none'} | {w.run_age_bic:.0f} | {w.passes('run_age')}/{len(w.dims)} | "
                    f"{w.both_bic:.0f} | {w.passes('both')}/{len(w.dims)} | "
                    f"{w.run_chosen} | {w.run_aic_chosen} | {w.all_chosen} | {w.all_aic_chosen} |")
    return "\n".join(rows)


COLUMNS = (("exp per pair, constant baseline", "reference"), ("BIC's choice", "chosen"), ("AIC's choice", "aic"),
           ("best multi-scale x own age (unconstrained, simulated where stable)", "age"),
           ("x own age, stability-constrained where it explodes (runnable)", "run_age"),
           ("BIC's choice among runnable", "run"), ("AIC's choice among runnable", "run_aic"),
           ("BIC's choice among runnable, class own-age model only (the rule before the curves)", "cls_run"),
           ("AIC's choice among runnable, class own-age model only", "cls_run_aic"),
           ("best multi-scale x spread state (fit only)", "state"),
           ("best multi-scale x spread state x own age (fit only)", "both"),
           ("BIC's choice among all", "all"), ("AIC's choice among all", "all_aic"))
"""The summary's columns: (label, :meth:`WindowFit.passes` key). "Among runnable" adds the own-age
model variants (which the simulator can draw: the class model and the curves, on BIC's and AIC's best
multi-scale base) to the candidates; "class own-age model only" adds just the class model on BIC's
base, as before the curves; "among all" adds the spread-state models too (fit only)."""


def summary(datasets: dict[str, list[WindowFit]], extra: dict[str, list[WindowFit]] | None = None) -> str:
    """Pass rates per data set and overall, and how often each model was chosen. ``extra`` data sets
    (another view of a recording already counted, e.g. its raw receive times) get a row of their own,
    marked as outside the totals, and are not counted in the totals or the choices."""
    rows = ["| data | windows | fitted dimensions | " + " | ".join(f"KS passes at 5%: {c}" for c, _ in COLUMNS) + " |",
            "|---|---:|---:|" + "---:|" * len(COLUMNS)]
    tot = np.zeros(len(COLUMNS) + 1, dtype=np.int64)
    for name, wins in datasets.items():
        row = np.array([sum(len(w.dims) for w in wins)] + [count(wins, k) for _, k in COLUMNS])
        tot += row
        rows.append(f"| {name} | {len(wins)} | {row[0]} | "
                    + " | ".join(f"{x} ({100 * x / row[0]:.0f}%)" for x in row[1:]) + " |")
    rows.append(f"| **all** | {sum(len(w) for w in datasets.values())} | {tot[0]} | "
                + " | ".join(f"{x} ({100 * x / tot[0]:.0f}%)" for x in tot[1:]) + " |")
    for name, wins in (extra or {}).items():
        row = np.array([sum(len(w.dims) for w in wins)] + [count(wins, k) for _, k in COLUMNS])
        rows.append(f"| {name} (not in the totals) | {len(wins)} | {row[0]} | "
                    + " | ".join(f"{x} ({100 * x / row[0]:.0f}%)" for x in row[1:]) + " |")
    out = "\n".join(rows)
    for what, key in (("Models chosen by BIC", "chosen"), ("Models chosen by AIC", "aic_chosen"),
                      ("Models chosen by BIC among runnable", "run_chosen"),
                      ("Models chosen by AIC among runnable", "run_aic_chosen"),
                      ("Models chosen by BIC among all", "all_chosen"),
                      ("Models chosen by AIC among all", "all_aic_chosen"),
                      ("Spread partitions of the state-dependent model chosen by BIC", "state_partition")):
        chosen = Counter(getattr(w, key) for wins in datasets.values() for w in wins)
        picks = "; ".join(f"{k}: {v}" for k, v in chosen.most_common())
        out += f"\n\n{what}, over all windows: {picks}."
    return out


def preserved_tail(existing: str, marker: str = "## Advisor vs baseline",
                   begin_marker: str = "<!-- replay-validation:begin -->") -> str:
    """Everything from the first line starting with ``marker`` (or from the replay tool's
    ``begin_marker`` line, when it comes first) to the end; '' if neither is there: another
    engineer's section that this generator must not drop."""
    lines = existing.splitlines(keepends=True)
    for k, line in enumerate(lines):
        if line.startswith(marker) or line.strip() == begin_marker:
            return "".join(lines[k:])
    return ""
