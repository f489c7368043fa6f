"""Generate the ICC reference datasets (run once; the CSVs are committed).

    python tests/reference/icc/make_data.py

``cont15``: continuous outcome, 15 clusters of 3 to 30, ICC 0.2.
``bin30``: binary outcome, 30 clusters of 5 to 40, latent ICC about 0.07.
``bin_null``: binary outcome with no clustering at all (20 clusters).
The GEE datasets in ``../gee`` are used too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _clusters(rng: np.random.Generator, k: int, lo: int, hi: int) -> np.ndarray:
    return np.repeat(np.arange(1, k + 1), rng.integers(lo, hi + 1, size=k))


def main() -> None:
    rng = np.random.default_rng(20261126)
    g = _clusters(rng, 15, 3, 30)
    u = rng.normal(0, np.sqrt(0.2), 15)[g - 1]
    cont = pd.DataFrame(
        {"cluster": g, "y": np.round(5 + u + rng.normal(0, np.sqrt(0.8), len(g)), 6)}
    )
    cont.to_csv(HERE / "cont15.csv", index=False)

    g = _clusters(rng, 30, 5, 40)
    u = rng.normal(0, 0.5, 30)[g - 1]
    p = 1 / (1 + np.exp(-(-0.7 + u)))
    pd.DataFrame({"cluster": g, "y": rng.binomial(1, p)}).to_csv(HERE / "bin30.csv", index=False)

    g = _clusters(rng, 20, 10, 20)
    pd.DataFrame({"cluster": g, "y": rng.binomial(1, 0.3, len(g))}).to_csv(
        HERE / "bin_null.csv", index=False
    )


if __name__ == "__main__":
    main()
