"""Benchmark tables with known structure: a generated mixed-type table and the large peer table.

Only numpy and pandas are needed, so tests and other benches can import this module cheaply.

    python bench/tables.py --rows 100000 --out /tmp/mixed.csv [--seed 0]

`make_mixed(n_rows, seed)` -- 20 modelled columns (no identifier), every one of them generated
from a stated rule, so a score on a column or a column pair can be traced to the rule it tests.
Exactly reproducible for a given (n_rows, seed); 1,000,000 rows take 1.7-2.3 s on the 2-core dev
machine (shared, load ~4; writing them as CSV takes another ~20 s).

    column           kind                       rule
    ---------------  -------------------------  ------------------------------------------------
    region           categorical, 5 levels      imbalanced: north .40, south .25, east .15,
                                                west .12, islands .08
    segment          categorical, 3 levels      depends on region (consumer / smb / enterprise;
                                                enterprise .05 in the islands, .30 in the east)
    occupation       categorical, 12 levels     depends on segment (each segment favours its own
                                                4 of the 12); 20 % missing, completely at random
    product          categorical, 30 levels     Zipf-like (p_k ~ 1/k^1.1): p00 ~ .29, p29 ~ .0068
    weekday          categorical, 7 levels      uniform, independent of everything (a control)
    channel          categorical, 2 levels      online / store; P(store) rises with age
                                                (logistic, ~.12 at 20, ~.88 at 80)
    tier             categorical, 4 levels      bronze / silver / gold / platinum by income
                                                (quartile-like cut of log income plus noise)
    is_member        boolean                    P(True) = .15, .35, .60, .85 by tier
    age              integer, 18-90             normal(45, 15), rounded and clipped
    quantity         integer count, >= 1        1 + Poisson(mean 1.5 in store, 3.0 online,
                                                x1.5 for gold/platinum)
    visits           integer count, >= 0        negative binomial (overdispersed): mean 4 for
                                                members, 1.5 for others
    satisfaction     integer 1-5 (ordinal)      cut of score_b + noise; 2 % missing at random
    income           continuous, skewed         log-normal: log income = 10.3 + region shift
                                                (north 0, south -.15, east +.25, west +.10,
                                                islands -.30) + .01 * (age - 45) + N(0, .5);
                                                5 % missing completely at random
    price            continuous, 2 decimals     product's base price (log-normal across
                                                products, 2-400) x (1 + N(0, .08)), rounded to
                                                cents: the categorical shifts the numeric's mean
    session_minutes  continuous, bimodal        mixture: quick N(3, 1) / long N(25, 6) minutes,
                                                P(long) = .60 online, .20 in store; > 0.1
    score_a          continuous                 normal; mean +0.0 / +0.5 / +1.0 by segment
    score_b          continuous                 corr(score_a, score_b) = .8 within a segment
    tenure_years     continuous, >= 0           Gamma(2, 3) capped at age - 18 (so it rises with
                                                age); ~12 % missing, at random given age (rate
                                                30 % under 30, 9 % from 30): not MCAR
    discount         continuous in [0, .5]      zero-inflated: exactly 0 for .65 of non-members
                                                and .30 of members, else .5 * Beta(2, 5), 3
                                                decimals
    temperature      continuous                 N(18, 6) rounded to 0.1, independent (a control)

Column dtypes: categoricals as pandas `category` (labels are strings), is_member `bool`, the
integer counts `int64`, satisfaction nullable `Int64`, the rest `float64`. Missing values are NaN
/ <NA> and are written as empty fields by `to_csv`.

`make_large(seed)` -- the large table of the peer comparison: the 53,940-row ggplot2 `diamonds`
table (3 ordered categoricals cut/color/clarity, 7 numerics) read from the copy that the PyPI
package plotnine ships (MIT-licensed wheel; in the `bench` extra), or `make_mixed(60_000)` when
plotnine is not installed. Nothing is downloaded at run time; no third-party data is committed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west", "islands"]
REGION_P = [0.40, 0.25, 0.15, 0.12, 0.08]
REGION_LOG_INCOME_SHIFT = [0.0, -0.15, 0.25, 0.10, -0.30]
SEGMENTS = ["consumer", "smb", "enterprise"]
# P(segment | region), rows follow REGIONS.
SEGMENT_GIVEN_REGION = [
    [0.70, 0.20, 0.10],
    [0.75, 0.20, 0.05],
    [0.40, 0.30, 0.30],
    [0.55, 0.30, 0.15],
    [0.80, 0.15, 0.05],
]
OCCUPATIONS = [
    "student", "retired", "service", "retail",        # consumer-leaning
    "trades", "owner", "sales", "accounting",          # smb-leaning
    "engineer", "manager", "analyst", "executive",     # enterprise-leaning
]
PRODUCT_LEVELS = 30
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CHANNELS = ["online", "store"]
TIERS = ["bronze", "silver", "gold", "platinum"]
MEMBER_P_BY_TIER = [0.15, 0.35, 0.60, 0.85]

MIXED_COLUMNS = [
    "region", "segment", "occupation", "product", "weekday", "channel", "tier", "is_member",
    "age", "quantity", "visits", "satisfaction",
    "income", "price", "session_minutes", "score_a", "score_b", "tenure_years", "discount", "temperature",
]
MISSING_RATES = {"occupation": 0.20, "tenure_years": 0.12, "income": 0.05, "satisfaction": 0.02}

DIAMONDS_ROWS = 53_940
LARGE_FALLBACK_ROWS = 60_000


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row from a per-row probability matrix (rows x levels)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _categorical(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int16), categories=labels)


def make_mixed(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A mixed-type table of `n_rows` rows and the 20 columns described in the module docstring."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be positive, got {n_rows}")
    rng = np.random.default_rng(seed)
    n = int(n_rows)

    region = rng.choice(len(REGIONS), size=n, p=REGION_P)
    segment = _choice_rows(rng, np.asarray(SEGMENT_GIVEN_REGION)[region])

    # Each segment puts 70 % of its mass on its own 4 occupations, 30 % spread over the other 8.
    occ_p = np.full((3, 12), 0.30 / 8)
    for s in range(3):
        occ_p[s, 4 * s: 4 * s + 4] = 0.70 / 4
    occupation = _choice_rows(rng, occ_p[segment])

    product_p = 1.0 / np.arange(1, PRODUCT_LEVELS + 1) ** 1.1
    product_p /= product_p.sum()
    product = rng.choice(PRODUCT_LEVELS, size=n, p=product_p)
    weekday = rng.integers(0, 7, size=n)

    age = np.clip(np.rint(rng.normal(45, 15, size=n)), 18, 90)
    p_store = 1.0 / (1.0 + np.exp(-(age - 50) / 15.0))
    channel = (rng.random(n) < p_store).astype(np.int64)  # 0 online, 1 store

    log_income = 10.3 + np.asarray(REGION_LOG_INCOME_SHIFT)[region] + 0.01 * (age - 45) + rng.normal(0, 0.5, size=n)
    income = np.round(np.exp(log_income), 2)
    # Tier from log income with noise: cut points near the quartiles of log income.
    tier_signal = log_income + rng.normal(0, 0.2, size=n)
    tier = np.searchsorted(np.array([9.95, 10.3, 10.65]), tier_signal)
    is_member = rng.random(n) < np.asarray(MEMBER_P_BY_TIER)[tier]

    quantity_mean = np.where(channel == 1, 1.5, 3.0) * np.where(tier >= 2, 1.5, 1.0)
    quantity = 1 + rng.poisson(quantity_mean)
    # Negative binomial with dispersion r = 1.5: mean = r (1 - p) / p  ->  p = r / (r + mean).
    visits_mean = np.where(is_member, 4.0, 1.5)
    visits = rng.negative_binomial(1.5, 1.5 / (1.5 + visits_mean))

    base_price = np.exp(np.random.default_rng(seed + 7919).uniform(np.log(2), np.log(400), size=PRODUCT_LEVELS))
    price = np.round(base_price[product] * np.clip(1 + rng.normal(0, 0.08, size=n), 0.5, None), 2)

    p_long = np.where(channel == 0, 0.60, 0.20)
    long = rng.random(n) < p_long
    session = np.where(long, rng.normal(25, 6, size=n), rng.normal(3, 1, size=n))
    session_minutes = np.maximum(session, 0.1)

    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    score_a = 50 + 10 * (0.5 * segment + z1)
    score_b = 100 + 20 * (0.8 * z1 + 0.6 * z2)
    sat_signal = (score_b - 100) / 20 + rng.normal(0, 0.7, size=n)
    satisfaction = np.searchsorted(np.array([-1.5, -0.5, 0.5, 1.5]), sat_signal) + 1

    tenure = np.minimum(rng.gamma(2.0, 3.0, size=n), age - 18)
    tenure_years = np.round(tenure, 2)

    p_zero = np.where(is_member, 0.30, 0.65)
    discount = np.where(rng.random(n) < p_zero, 0.0, np.round(0.5 * rng.beta(2, 5, size=n), 3))
    temperature = np.round(rng.normal(18, 6, size=n), 1)

    # Missing values: MCAR for three columns, tenure missing at random given age.
    income[rng.random(n) < MISSING_RATES["income"]] = np.nan
    occupation[rng.random(n) < MISSING_RATES["occupation"]] = -1
    tenure_missing_p = np.where(age < 30, 0.30, 0.09)
    tenure_years[rng.random(n) < tenure_missing_p] = np.nan
    satisfaction = pd.array(satisfaction, dtype="Int64")
    satisfaction[rng.random(n) < MISSING_RATES["satisfaction"]] = pd.NA

    frame = pd.DataFrame({
        "region": _categorical(region, REGIONS),
        "segment": _categorical(segment, SEGMENTS),
        "occupation": _categorical(occupation, OCCUPATIONS),
        "product": _categorical(product, [f"p{k:02d}" for k in range(PRODUCT_LEVELS)]),
        "weekday": _categorical(weekday, WEEKDAYS),
        "channel": _categorical(channel, CHANNELS),
        "tier": _categorical(tier, TIERS),
        "is_member": is_member,
        "age": age.astype(np.int64),
        "quantity": quantity.astype(np.int64),
        "visits": visits.astype(np.int64),
        "satisfaction": satisfaction,
        "income": income,
        "price": price,
        "session_minutes": np.round(session_minutes, 3),
        "score_a": score_a,
        "score_b": score_b,
        "tenure_years": tenure_years,
        "discount": discount,
        "temperature": temperature,
    })
    assert list(frame.columns) == MIXED_COLUMNS
    return frame


def diamonds_path() -> Path | None:
    """The diamonds CSV shipped inside the installed plotnine package, found without importing it."""
    spec = importlib.util.find_spec("plotnine")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / "diamonds.csv"
        if path.is_file():
            return path
    return None


def load_diamonds() -> pd.DataFrame:
    """ggplot2's diamonds (53,940 rows x 10: carat, cut, color, clarity, depth, table, price, x, y, z).

    Read from plotnine's bundled copy (plotnine is MIT-licensed; ggplot2, where the table comes
    from, is MIT-licensed too). cut, color and clarity are ordered quality grades, kept as strings.
    """
    path = diamonds_path()
    if path is None:
        raise FileNotFoundError("plotnine is not installed (pip install -e '.[bench]'); it ships the diamonds table")
    frame = pd.read_csv(path)
    if len(frame) != DIAMONDS_ROWS:
        raise ValueError(f"{path}: expected {DIAMONDS_ROWS} rows, found {len(frame)}")
    return frame


def make_large(seed: int = 0, source: str = "auto", n_rows: int | None = None) -> pd.DataFrame:
    """The 50,000+ row table of the peer comparison.

    source: "diamonds" (plotnine's copy; fails when plotnine is missing), "mixed"
    (`make_mixed(n_rows or 60_000, seed)`), or "auto": diamonds when plotnine is installed, else
    mixed. With n_rows on diamonds, a seeded sample of that many rows without replacement (for
    short runs). `frame.attrs["source"]` says which table it is.
    """
    if source not in ("auto", "diamonds", "mixed"):
        raise ValueError(f"source must be auto, diamonds or mixed, got {source!r}")
    if source == "diamonds" or (source == "auto" and diamonds_path() is not None):
        frame = load_diamonds()
        if n_rows is not None and n_rows < len(frame):
            frame = frame.sample(n=n_rows, random_state=seed).reset_index(drop=True)
        frame.attrs["source"] = f"diamonds ({len(frame)} of {DIAMONDS_ROWS} rows, from plotnine)"
        return frame
    rows = LARGE_FALLBACK_ROWS if n_rows is None else n_rows
    frame = make_mixed(rows, seed=seed)
    frame.attrs["source"] = f"make_mixed({rows}, seed={seed})"
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write make_mixed(N) as CSV (see the module docstring for its structure).")
    parser.add_argument("--rows", type=int, default=10_000, help="rows to generate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--out", required=True, help="CSV file to write ('-' for stdout)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    frame = make_mixed(args.rows, seed=args.seed)
    made = time.perf_counter() - start
    if args.out == "-":
        frame.to_csv(sys.stdout, index=False)
    else:
        frame.to_csv(args.out, index=False)
        print(f"wrote {len(frame)} rows x {frame.shape[1]} columns to {args.out} "
              f"(generated in {made:.2f} s, written in {time.perf_counter() - start - made:.2f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
