#!/usr/bin/env python3
"""Reference values for the RESET test in `src/ou/subspace_ou.rs` (`reset_test`).

Run from the crate root:  python3 tests/reference/generate_subspace_reset.py
It rewrites `tests/reference/subspace_reset.json`, read by `tests/reference/ou_subspace.rs` (no Python
needed there). Data are stored in full; each value sits beside its call.
"""

import json
import platform
from pathlib import Path

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from statsmodels.stats.diagnostic import linear_reset

OUT = Path(__file__).with_name("subspace_reset.json")
CALL = ('statsmodels.stats.diagnostic.linear_reset(sm.OLS(y, sm.add_constant(x)).fit(), '
        'power={power}, test_type="fitted", use_f=True)')


def main():
    rng = np.random.default_rng(16)
    n, m = 60, 3
    x = rng.standard_normal((n, m))
    cases = {
        "linear": x @ [0.5, -1.0, 2.0] + 0.3 * rng.standard_normal(n),
        "quadratic": x @ [0.5, -1.0, 2.0] + 0.4 * (x[:, 0] + x[:, 2]) ** 2 + 0.3 * rng.standard_normal(n),
    }
    out = {"versions": {"python": platform.python_version(), "numpy": np.__version__,
                        "scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
           "x": x.tolist(), "cases": []}
    for name, y in cases.items():
        for power in (2, 3):
            r = linear_reset(sm.OLS(y, sm.add_constant(x)).fit(), power=power,
                             test_type="fitted", use_f=True)
            out["cases"].append({"name": name, "power": power, "y": y.tolist(),
                                 "F": float(r.fvalue), "p": float(r.pvalue),
                                 "call": CALL.format(power=power)})
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
