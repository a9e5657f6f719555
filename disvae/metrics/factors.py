"""Ground-truth factor classes of a pool of encoded images: groups, entropies, sampling.

The scores receive `factors`, an (N, K) integer array of factor classes, one row per image
of the pool (e.g. all of dSprites). Nothing assumes a full or ordered grid: images sharing a
factor value are found by grouping the classes, so subsets of a grid and shuffled pools work.
Factors with a single value in the pool (dSprites' colour) carry no information and are
skipped by every score (`varying_factors`).
"""
import numpy as np


def validate(codes, factors):
    """Check shapes and return (codes as float64 (N, D), factors as int64 (N, K))."""
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (N, D) and factors (N, K) must have the same N; got "
                         f"{codes.shape} and {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        if not np.all(factors == np.round(factors)):
            raise ValueError("factors must hold integer classes; discretise continuous values")
        factors = factors.astype(np.int64)
    return codes, factors.astype(np.int64, copy=False)


def scoring_pool(codes, factors, score, min_varying=1):
    """The common start of a score: validated (codes, factors) and their FactorPool, with a
    one-line error naming `score` when fewer than `min_varying` factors vary."""
    codes, factors = validate(codes, factors)
    pool = FactorPool(factors)
    if len(pool.varying) < min_varying:
        needed = "at least one non-constant factor" if min_varying == 1 else \
            "at least two non-constant factors"
        raise ValueError(f"{score} needs {needed}")
    return codes, factors, pool


def factor_entropy(classes):
    """Empirical entropy (nats) of one factor's classes; log|V| on a uniform grid."""
    _, counts = np.unique(classes, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def varying_factors(factors):
    """Indices of the factors that take more than one value."""
    factors = np.asarray(factors)
    return [k for k in range(factors.shape[1]) if np.unique(factors[:, k]).size > 1]


class FactorPool:
    """Rows of the pool grouped by the value of each factor, for drawing rows at random.

    For factor k, the rows with value index i are ``order[k][offsets[k][i]:offsets[k][i+1]]``
    and ``value_index[k][n]`` is the value index of row n.
    """

    def __init__(self, factors):
        self.factors = np.asarray(factors)
        self.n_rows, self.n_factors = self.factors.shape
        self.varying = varying_factors(self.factors)
        self.value_index, self.order, self.offsets = [], [], []
        index_type = np.int32 if self.n_rows < 2 ** 31 else np.int64  # 8 bytes/row/factor
        for k in range(self.n_factors):
            _, inverse, counts = np.unique(self.factors[:, k], return_inverse=True,
                                           return_counts=True)
            self.value_index.append(inverse.ravel().astype(index_type))
            self.order.append(np.argsort(inverse.ravel(), kind="stable").astype(index_type))
            self.offsets.append(np.concatenate([[0], np.cumsum(counts)]))

    def groups(self, k):
        """List of row-index arrays, one per value of factor k, and their frequencies."""
        offsets = self.offsets[k]
        rows = [self.order[k][offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        return rows, np.diff(offsets) / self.n_rows

    def random_rows(self, rng, size):
        """Rows drawn uniformly with replacement (factor combinations as the pool holds them)."""
        return rng.integers(self.n_rows, size=size)

    def train_test_rows(self, seed, n_train, n_test):
        """Random training and test rows (drawn in that order from one generator seeded
        with `seed`)."""
        rng = np.random.default_rng(seed)
        return self.random_rows(rng, n_train), self.random_rows(rng, n_test)

    def rows_sharing(self, rng, k, rows):
        """For each given row, a uniformly drawn row of the pool with the same value of factor k."""
        values = self.value_index[k][rows]
        start = self.offsets[k][values]
        count = self.offsets[k][values + 1] - start
        return self.order[k][start + rng.integers(count)]
