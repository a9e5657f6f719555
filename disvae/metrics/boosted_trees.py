"""Gradient-boosted classification trees (Friedman 2001, "Greedy function approximation: a
gradient boosting machine", Algorithm 6, LK_TreeBoost), exactly as scikit-learn's
GradientBoostingClassifier (version 1.9) fits them with its defaults, much faster.

The recipe, for K classes and N training points x_i (D features) with labels y_i:
- Start from the log prior: F_k = log p_k - mean_k log p_k for K >= 3 classes (symmetric
  multinomial logit), F = log(p_1 / p_0) for two classes, p the class frequencies clipped to
  [eps, 1 - eps].
- Each of the n_estimators iterations fits one regression tree per class (one tree in all for
  two classes) to the negative gradient of the deviance, r_ik = [y_i = k] - p_k(x_i), with
  p = softmax(F) (the logistic sigmoid of F for two classes).
- A tree is grown to depth max_depth by exhaustive search of axis-aligned splits
  that minimise the squared error, i.e. maximise sum_L^2 / n_L + sum_R^2 / n_R (sums of r over
  the two children). A node stays a leaf when it holds fewer than 2 points, when its squared
  error per point is <= float64 eps, or when no split separates two distinct values.
- Each leaf R then takes one Newton step on the deviance (Friedman 2001, eq. 32):
  gamma = (K - 1) / K * mean_R(r) / mean_R(p (1 - p)) for K >= 3 classes (scikit-learn keeps
  this (K - 1) / K factor), mean_R(r) / mean_R(p (1 - p)) for two, and 0 when the
  denominator is below 1e-150. F_k(x) += learning_rate * gamma(leaf of x).
- A feature's importance sums, over the splits on it, the decrease of the node's squared error
  n_node imp_node - n_L imp_L - n_R imp_R, divided by N; it is averaged over the trees whose
  root was split and normalised to sum 1.

scikit-learn's conventions that decide its results, reproduced here: features are cast to
float32; sorted neighbouring values closer than FEATURE_TIE (v_next <= v + 1e-7 in float32)
are not separated by a split; a split's threshold is the midpoint v/2 + v_next/2 in float64
and a point goes left when x <= threshold; along a feature's sorted values the first best
split is kept. Ties between features: scikit-learn visits the features in a random order at
each node and keeps the first best, so among features whose best splits are exactly equal
(duplicated latents, a factor read equally well from two discrete codes) it picks one at
random; so does this implementation (drawing from random_state), with other draws than
scikit-learn's. Sums are accumulated in another order than scikit-learn's, so the results
agree to rounding (about 1e-12 relative) where no two candidate splits tie, not bit for bit;
where candidates tie up to rounding (small nodes whose points share a target value, common
after a few iterations) the two implementations may keep different but equally good splits.

How it is fast: each feature is sorted once. While a tree grows, every feature's sample
order is kept grouped by node (each node's points contiguous, in ascending feature value), so
one cumulative sum over a node's slice of all D rows gives the left sums of every candidate
split of every feature at once, and one maximum picks the node's best (feature, position).
After each level, one stable sort of the orders by the points' new node ids (a radix sort
of small integers) regroups them: the features are never sorted again. The leaves' Newton
steps and the predictions are computed for all classes at once.
"""
import numpy as np
from scipy.special import expit

FEATURE_TIE = np.float32(1e-7)  # scikit-learn's FEATURE_THRESHOLD
PURE_IMPURITY = np.finfo(np.float64).eps  # a node this pure is a leaf
TINY_HESSIAN = 1e-150  # a leaf whose mean Hessian is below this takes no step


class BoostedTreesClassifier:
    """Gradient-boosted trees for classification with the deviance loss (see the module).

    fit(x, y) then predict(x), decision_function(x); feature_importances_ after fit.
    """

    def __init__(self, n_estimators=100, learning_rate=0.1, max_depth=3, random_state=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state  # draws among features tied exactly at a node

    def fit(self, x, y):
        """Fit to features x (N, D) and class labels y (N,) of at least two classes."""
        x = _float32_features(x)
        self.classes_, labels = np.unique(np.asarray(y), return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"boosted trees need at least 2 classes, got {n_classes}: "
                             "drop the factor that does not vary")
        prior = np.clip(np.bincount(labels, minlength=n_classes) / len(labels),
                        np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
        if n_classes == 2:
            self.init_ = np.log(prior[1:] / (1 - prior[1:]))  # one tree per iteration, on the log-odds
            indicator = labels[None, :].astype(np.float64)
        else:
            self.init_ = np.log(prior) - np.log(prior).mean()
            indicator = (labels[None, :] == np.arange(n_classes)[:, None]).astype(np.float64)
        search = _SplitSearch(x, np.random.default_rng(self.random_state))
        raw = np.repeat(self.init_[:, None], len(x), axis=1)  # (trees per iteration, N)
        n_trees = len(self.init_)
        self.split_features_ = np.zeros((self.n_estimators, n_trees, 2 ** self.max_depth - 1),
                                        dtype=np.intp)
        self.thresholds_ = np.full(self.split_features_.shape, np.inf)
        self.leaf_values_ = np.zeros((self.n_estimators, n_trees, 2 ** self.max_depth))
        importance_sum = np.zeros(x.shape[1])
        n_split_trees = 0
        for iteration in range(self.n_estimators):
            residual = indicator - _probabilities(raw)
            leaves = np.empty(raw.shape, dtype=np.intp)
            for tree in range(n_trees):
                features, thresholds, leaves[tree], importance = _grow_tree(
                    search, residual[tree], self.max_depth)
                self.split_features_[iteration, tree] = features
                self.thresholds_[iteration, tree] = thresholds
                if np.isfinite(thresholds[0]):  # the root was split
                    importance_sum += importance
                    n_split_trees += 1
            values = _newton_steps(leaves, residual, indicator, n_classes,
                                   2 ** self.max_depth)
            self.leaf_values_[iteration] = values
            raw += self.learning_rate * np.take_along_axis(values, leaves, axis=1)
        mean_importance = importance_sum / max(n_split_trees, 1)
        total = mean_importance.sum()
        self.feature_importances_ = mean_importance / total if total > 0 else mean_importance
        return self

    def decision_function(self, x):
        """Raw scores F (N, K), or the log-odds (N,) for two classes."""
        x = _float32_features(x)
        n_iterations, n_trees, n_internal = self.thresholds_.shape
        node = np.zeros((n_iterations, n_trees, len(x)), dtype=np.intp)
        for _ in range(self.max_depth):  # heap order: children of node n are 2n + 1, 2n + 2
            feature = np.take_along_axis(self.split_features_, node, axis=2)
            threshold = np.take_along_axis(self.thresholds_, node, axis=2)
            value = x[np.arange(len(x)), feature]
            node = 2 * node + 1 + (value > threshold)
        steps = np.take_along_axis(self.leaf_values_, node - n_internal, axis=2)
        raw = np.repeat(self.init_[:, None], len(x), axis=1)
        for step in steps:  # iteration by iteration, as scikit-learn sums them
            raw += self.learning_rate * step
        return raw[0] if n_trees == 1 else raw.T

    def predict(self, x):
        """The most likely class of each row of x."""
        raw = self.decision_function(x)
        return self.classes_[(raw >= 0).astype(int) if raw.ndim == 1 else raw.argmax(axis=1)]


def _float32_features(x):
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError("boosted trees need a 2-D array of finite features: drop or impute "
                         "NaN and infinite values")
    return x


def _probabilities(raw):
    """p_k = softmax over the classes of raw (K, N), or sigmoid(raw) for one row."""
    if len(raw) == 1:
        return expit(raw)
    exp = np.exp(raw - raw.max(axis=0))
    return exp / exp.sum(axis=0)


def _newton_steps(leaves, residual, indicator, n_classes, n_leaves):
    """One Newton step per leaf of each tree (rows of leaves (T, N)): (T, n_leaves).

    The Hessian term p (1 - p) uses p = indicator - residual, as scikit-learn does."""
    n_trees = len(leaves)
    index = (leaves + n_leaves * np.arange(n_trees)[:, None]).ravel()
    probability = indicator - residual
    size = n_trees * n_leaves
    count = np.bincount(index, minlength=size)
    gradient = np.bincount(index, residual.ravel(), minlength=size)
    hessian = np.bincount(index, (probability * (1 - probability)).ravel(), minlength=size)
    filled = count > 0
    gradient[filled] /= count[filled]
    hessian[filled] /= count[filled]
    if n_classes > 2:
        gradient *= (n_classes - 1) / n_classes
    step = np.zeros(size)
    usable = np.abs(hessian) >= TINY_HESSIAN
    step[usable] = gradient[usable] / hessian[usable]
    return step.reshape(n_trees, n_leaves)


class _SplitSearch:
    """The features of one fit, each feature's sample order, and scratch buffers shared by
    all its trees (so that the search allocates nothing per node)."""

    def __init__(self, x, rng):
        n_points, n_features = x.shape
        self.x = x
        self.rng = rng
        self.order = np.ascontiguousarray(np.argsort(x, axis=0, kind="stable").T)
        self.feature_rows = np.arange(n_features)[:, None]
        self.row_starts = self.feature_rows * n_points  # flat index of each row's start
        self.n_left = np.arange(1, n_points, dtype=np.float64)  # left sizes of the splits
        self.ordered = np.empty((n_features, n_points))
        self.left = np.empty(n_features * n_points)
        self.right = np.empty(n_features * n_points)

    def best_split(self, samples, ordered, total):
        """Best split of one node over all features, or None if no split separates two
        values further apart than FEATURE_TIE.

        samples (D, n): the node's points in each feature's ascending order; ordered (D, n):
        their targets; total: the targets' sum. Maximises scikit-learn's squared-error proxy
        sum_L^2 / n_L + sum_R^2 / n_R over the n - 1 positions of every feature (see _pick
        for ties). Returns (feature, last left position, threshold).
        """
        n_features, count = samples.shape
        m = count - 1
        left = self.left[:n_features * m].reshape(n_features, m)
        right = self.right[:n_features * m].reshape(n_features, m)
        np.cumsum(ordered[:, :m], axis=1, out=left)
        np.subtract(total, left, out=right)
        np.multiply(left, left, out=left)
        np.divide(left, self.n_left[:m], out=left)
        np.multiply(right, right, out=right)
        np.divide(right, self.n_left[m - 1::-1], out=right)  # right sizes m, m - 1, ..., 1
        proxy = np.add(left, right, out=left)
        split = self._pick(proxy)
        if split is not None and not self._separates(samples, *split):
            # rare: the best lies between near-equal values (a constant feature, ties)
            values = self.x[samples, self.feature_rows]
            proxy[values[:, 1:] <= values[:, :-1] + FEATURE_TIE] = -np.inf
            split = self._pick(proxy)
        if split is None:
            return None
        below, above = self._neighbours(samples, *split)
        return (*split, float(below) / 2.0 + float(above) / 2.0)

    def _pick(self, proxy):
        """(feature, position) of the largest proxy, None if all are -inf. Features tied
        exactly at the best are drawn from at random; within a feature the first wins."""
        feature_best = proxy.max(axis=1)
        best = feature_best.max()
        if best == -np.inf:
            return None
        tied = np.flatnonzero(feature_best == best)
        feature = int(tied[0] if len(tied) == 1 else self.rng.choice(tied))
        return feature, int(np.argmax(proxy[feature]))

    def _separates(self, samples, feature, position):
        below, above = self._neighbours(samples, feature, position)
        return above > below + FEATURE_TIE

    def _neighbours(self, samples, feature, position):
        """The float32 values on either side of a split position."""
        return (self.x[samples[feature, position], feature],
                self.x[samples[feature, position + 1], feature])


def _grow_tree(search, target, max_depth):
    """One regression tree on target (N,), grown level by level by exhaustive search.

    Returns (split feature, threshold) of each internal node in heap order (threshold +inf
    where a node is not split: every point goes left, to a node that is not split either),
    the leaf (0 .. 2^max_depth - 1) of every point, and the unnormalised importance (D,).
    At each depth, every feature's order holds the nodes' points contiguously (node by node,
    each in ascending feature value), so a node is one slice of all D rows.
    """
    n_points = len(target)
    n_internal = 2 ** max_depth - 1
    features = np.zeros(n_internal, dtype=np.intp)
    thresholds = np.full(n_internal, np.inf)
    importance = np.zeros(search.order.shape[0])
    samples = search.order
    # of each point, at the current depth; small integers sort fastest (radix sort)
    node = np.zeros(n_points, dtype=np.min_scalar_type(2 ** max_depth - 1))
    squares, total = float(np.dot(target, target)), float(target.sum())
    # per node at the current depth: point count, sum and sum of squares of the target,
    # squared error per point, and whether it may split
    nodes = [(n_points, total, squares, squares / n_points - (total / n_points) ** 2, True)]
    for depth in range(max_depth):
        ordered = np.take(target, samples, out=search.ordered)
        is_right = np.zeros(n_points, dtype=bool)
        next_nodes, start = [], 0
        for j, (count, total, squares, impurity, growing) in enumerate(nodes):
            stop = start + count
            split = None
            if growing and count >= 2 and impurity > PURE_IMPURITY:
                split = search.best_split(samples[:, start:stop], ordered[:, start:stop], total)
            if split is None:
                next_nodes += [(count, total, squares, impurity, False), (0, 0.0, 0.0, 0.0, False)]
            else:
                feature, position, threshold = split
                heap = 2 ** depth - 1 + j
                features[heap], thresholds[heap] = feature, threshold
                is_right[samples[feature, start + position + 1:stop]] = True
                left = ordered[feature, start:start + position + 1]
                n_left, left_total = position + 1, float(left.sum())
                left_squares = float(np.dot(left, left))
                children = [_child(n_left, left_total, left_squares),
                            _child(count - n_left, total - left_total, squares - left_squares)]
                importance[feature] += count * impurity - sum(c[0] * c[3] for c in children)
                next_nodes += children
            start = stop
        node = 2 * node + is_right
        nodes = next_nodes
        if depth + 1 < max_depth:  # regroup every feature's order by the new nodes
            regrouped = np.argsort(node[samples], axis=1, kind="stable")
            regrouped += search.row_starts
            samples = np.take(samples, regrouped)
    return features, thresholds, node, importance / n_points


def _child(count, total, squares):
    """A child node's record; its squared error per point from its sums, as scikit-learn."""
    return (count, total, squares, squares / count - (total / count) ** 2, True)
