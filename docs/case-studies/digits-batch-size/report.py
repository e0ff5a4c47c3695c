"""Numbers file and figures of case study 2 from what run.sh produced.

    python3 report.py OUT_DIR

Reads OUT_DIR/train.json (train.py), OUT_DIR/tails.json (tails.py),
OUT_DIR/verify/S<S>/report.json (`sgd-ou verify --out`) and OUT_DIR/compare/compare.json
(`sgd-ou compare --out`); writes OUT_DIR/numbers.json, OUT_DIR/numbers.md (the table README.md
quotes), OUT_DIR/tail-index.svg and OUT_DIR/kurtosis.svg (plain SVG, no plotting library).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

CHECKS = ["gaussian_noise", "constant_covariance", "small_step", "quadratic_loss"]


def gaussian_numbers(report):
    """Worst-direction |skewness| and |excess kurtosis| with intervals, and the direct tail
    indices of that direction, from one verify report."""
    g = report["assumptions"]["gaussian_noise"]
    km = {m["name"]: m for m in g["key_metrics"]}
    out = {"verdict": g["verdict"]}
    for key, name in (("skewness", "minibatch_abs_skewness"),
                      ("excess_kurtosis", "minibatch_abs_excess_kurtosis")):
        m = km.get(name)
        if m is not None:
            out[key] = m["estimate"]
            out[key + "_ci"] = [m["ci"]["lo"], m["ci"]["hi"]] if m.get("ci") else None
    worst = g["metrics"].get("worst_direction")
    for t in g["metrics"].get("tail_indices") or []:
        if t["direction"] == worst:
            bs = t.get("block_sum_alpha") or {}
            out["worst_direction_block_sum_alpha"] = bs.get("estimate")
            out["worst_direction_hill"] = (t.get("hill") or {}).get("estimate")
    return out


def headline(report, check):
    """(verdict, first key metric name, estimate) of one assumption."""
    a = report["assumptions"][check]
    km = a.get("key_metrics") or []
    return a["verdict"], (km[0]["name"] if km else None), (km[0]["estimate"] if km else None)


def collect(out):
    train = json.loads((out / "train.json").read_text())
    tails = json.loads((out / "tails.json").read_text())
    comp = json.loads((out / "compare" / "compare.json").read_text())
    rows = []
    for s in sorted(int(k) for k in train["runs"]):
        rep = json.loads((out / "verify" / f"S{s}" / "report.json").read_text())
        row = {"S": s, "verdict": rep["verdict"], "gaussian_noise": gaussian_numbers(rep),
               "checks": {c: dict(zip(("verdict", "metric", "estimate"), headline(rep, c)))
                          for c in CHECKS},
               "ou_prediction": (rep.get("ou_prediction") or {}).get("verdict"),
               "tails": tails[str(s)]}
        for r in comp["runs"]:
            if r["batch_size"] == s:
                row["compare"] = {"trace_observed": r["observables"]["trace_observed"],
                                  "trace_predicted": r["observables"]["trace_predicted"]}
        rows.append(row)
    laws = [{k: law[k] for k in ("name", "estimate", "ci", "null", "verdict", "informative",
                                 "reason")} for law in comp["laws"]]
    return {"setup": {k: v for k, v in train.items() if k != "runs"}, "rows": rows,
            "laws": laws, "compare_verdict": comp["verdict"]}


def fmt(x, nd=3):
    if x is None:
        return "–"
    if isinstance(x, float) and (abs(x) >= 1e4 or (x != 0 and abs(x) < 1e-3)):
        return f"{x:.2e}"
    return f"{x:.{nd}g}" if isinstance(x, float) else str(x)


def ci(x):
    return f" [{fmt(x[0])}, {fmt(x[1])}]" if x else ""


def rng(d, key):
    """'median [min, max]' over the pooled view's passes."""
    lo, hi = d[key + "_range"]
    return f"{d[key]:.2f} [{lo:.2f}, {hi:.2f}]"


def table(num):
    """Markdown: one row per S (sgd-ou's verdicts, then the two tail-index views), then the
    compare laws."""
    lines = ["| S | verify | gaussian_noise: worst-direction \\|skew\\|, \\|excess kurtosis\\| "
             "(CLT, 95 % simultaneous) | constant_covariance | small_step (ε·λ_max) | "
             "quadratic_loss | OU tr Σ̂ / tr Σ_pred | iteration-wise: K² rejects (of d) | "
             "iteration-wise: median α̂ (same M, Gaussian data) | pooled α̂ (Şimşekli), median "
             "[range] over passes | pooled α̂, Gaussian scale mixture | pooled α̂, standardised "
             "+ shuffled |",
             "|" + " --- |" * 12]
    for r in num["rows"]:
        g, it, po, ch = r["gaussian_noise"], r["tails"]["iteration_wise"], \
            r["tails"]["coordinate_pooled"], r["checks"]
        c = r.get("compare", {})
        ratio = (c["trace_observed"] / c["trace_predicted"]) if c.get("trace_predicted") else None
        lines.append(
            f"| {r['S']} | {r['verdict']} | **{g['verdict']}**: {fmt(g.get('skewness'))}"
            f"{ci(g.get('skewness_ci'))}, {fmt(g.get('excess_kurtosis'))}"
            f"{ci(g.get('excess_kurtosis_ci'))} | {ch['constant_covariance']['verdict']} | "
            f"{ch['small_step']['verdict']} ({fmt(ch['small_step']['estimate'])}) | "
            f"{ch['quadratic_loss']['verdict']} | {r['ou_prediction']} ({fmt(ratio)}) | "
            f"{100 * it['k2_reject_fraction']:.1f} % | {it['alpha_median']:.2f} "
            f"({it['alpha_gaussian_median']:.2f}) | {rng(po, 'alpha')} | "
            f"{rng(po, 'alpha_gaussian_scale_mixture')} | "
            f"{rng(po, 'alpha_standardised_shuffled')} |")
    lines += ["", f"compare verdict: **{num['compare_verdict']}**", ""]
    for law in num["laws"]:
        tag = "informative" if law["informative"] else "decides"
        lines.append(f"* `{law['name']}` ({tag}): {law['reason']}")
    return "\n".join(lines) + "\n"


def svg_plot(path, title, ylabel, series, hlines=(), ylim=None, ylog=False):
    """A small line plot against log₂ S. series: [(label, colour, [(S, y, lo, hi)])] (lo/hi
    None for no error bar); hlines: [(y, label)] dashed reference lines."""
    w, h, l, r, t, b = 640, 400, 70, 200, 40, 50
    xs = sorted({p[0] for _, _, pts in series for p in pts})
    tr = (lambda v: math.log10(v)) if ylog else (lambda v: v)
    ys = [tr(v) for _, _, pts in series for p in pts for v in p[1:] if v is not None and
          (v > 0 or not ylog)] + [tr(y) for y, _ in hlines]
    y0, y1 = (tr(ylim[0]), tr(ylim[1])) if ylim else (min(ys), max(ys))
    pad = 0.05 * (y1 - y0 or 1)
    y0, y1 = y0 - pad, y1 + pad
    x0, x1 = math.log2(xs[0]) - 0.3, math.log2(xs[-1]) + 0.3
    px = lambda s: l + (math.log2(s) - x0) / (x1 - x0) * (w - l - r)  # noqa: E731
    py = lambda v: t + (y1 - tr(v)) / (y1 - y0) * (h - t - b)  # noqa: E731
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'font-family="sans-serif" font-size="12">', f'<rect width="{w}" height="{h}" '
         'fill="white"/>', f'<text x="{w / 2 - r / 2}" y="20" text-anchor="middle" '
         f'font-size="14">{title}</text>',
         f'<rect x="{l}" y="{t}" width="{w - l - r}" height="{h - t - b}" fill="none" '
         'stroke="#888"/>', f'<text x="{(l + w - r) / 2}" y="{h - 12}" text-anchor="middle">'
         'batch size S (log scale)</text>', f'<text transform="translate(16,{(t + h - b) / 2})'
         f' rotate(-90)" text-anchor="middle">{ylabel}</text>']
    for s in xs:
        o.append(f'<text x="{px(s):.1f}" y="{h - b + 16}" text-anchor="middle">{s}</text>')
    for k in range(6):
        v = y0 + (y1 - y0) * k / 5
        lab = f"{10 ** v:.3g}" if ylog else f"{v:.3g}"
        yy = t + (y1 - v) / (y1 - y0) * (h - t - b)
        o.append(f'<text x="{l - 6}" y="{yy + 4:.1f}" text-anchor="end">{lab}</text>')
    for y, lab in hlines:
        o.append(f'<line x1="{l}" x2="{w - r}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#444" '
                 f'stroke-dasharray="5,4"/><text x="{w - r - 4}" y="{py(y) - 4:.1f}" '
                 f'text-anchor="end" fill="#444">{lab}</text>')
    for i, (label, col, pts) in enumerate(series):
        pts = [p for p in pts if p[1] is not None and (p[1] > 0 or not ylog)]
        o.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="'
                 + " ".join(f"{px(p[0]):.1f},{py(p[1]):.1f}" for p in pts) + '"/>')
        for p in pts:
            o.append(f'<circle cx="{px(p[0]):.1f}" cy="{py(p[1]):.1f}" r="4" fill="{col}"/>')
            if p[2] is not None and p[3] is not None:
                lo = p[2] if (p[2] > 0 or not ylog) else ylim[0] if ylim else p[1]
                o.append(f'<line x1="{px(p[0]):.1f}" x2="{px(p[0]):.1f}" y1="{py(lo):.1f}" '
                         f'y2="{py(p[3]):.1f}" stroke="{col}"/>')
        yy = t + 14 + 18 * i
        o.append(f'<line x1="{w - r + 10}" x2="{w - r + 30}" y1="{yy - 4}" y2="{yy - 4}" '
                 f'stroke="{col}" stroke-width="2"/><text x="{w - r + 34}" y="{yy}">{label}'
                 '</text>')
    path.write_text("\n".join(o + ["</svg>"]) + "\n")


def figures(num, out):
    rows = num["rows"]
    it = lambda r, k: r["tails"]["iteration_wise"][k]  # noqa: E731
    po = lambda r, k: r["tails"]["coordinate_pooled"][k]  # noqa: E731
    band = lambda k: [(r["S"], po(r, k), *po(r, k + "_range")) for r in rows]  # noqa: E731
    svg_plot(out / "tail-index.svg", "Block-sum tail index α̂ of the minibatch noise",
             "α̂ (2 = Gaussian)",
             [("pooled (Şimşekli)", "#d62728", band("alpha")),
              ("pooled, scale mixture", "#ff9896",
               band("alpha_gaussian_scale_mixture")),
              ("pooled, std.+shuffled", "#9467bd",
               band("alpha_standardised_shuffled")),
              ("per coord., median", "#1f77b4",
               [(r["S"], it(r, "alpha_median"), it(r, "alpha_q05"), it(r, "alpha_median"))
                for r in rows]),
              ("per coord., Gaussian", "#aec7e8",
               [(r["S"], it(r, "alpha_gaussian_median"), None, None) for r in rows])],
             hlines=[(2.0, "Gaussian: 2")])
    svg_plot(out / "kurtosis.svg", "Excess kurtosis of the minibatch noise", "|excess kurtosis|",
             [("sgd-ou worst dir. (CLT)", "#2ca02c",
               [(r["S"], r["gaussian_noise"].get("excess_kurtosis"),
                 *(r["gaussian_noise"].get("excess_kurtosis_ci") or (None, None)))
                for r in rows]),
              ("per coord., median", "#1f77b4",
               [(r["S"], it(r, "median_abs_excess_kurtosis"), None, None) for r in rows]),
              ("per coord., 90 %", "#aec7e8",
               [(r["S"], it(r, "q90_abs_excess_kurtosis"), None, None) for r in rows])],
             hlines=[(0.5, "sgd-ou tolerance 0.5")], ylim=(0.01, 200), ylog=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: report.py OUT_DIR")
    out = Path(argv[0])
    num = collect(out)
    (out / "numbers.json").write_text(json.dumps(num, indent=1))
    (out / "numbers.md").write_text(table(num))
    figures(num, out)
    print(table(num))


if __name__ == "__main__":
    main()
