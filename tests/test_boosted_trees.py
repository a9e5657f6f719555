"""The project's gradient-boosted trees (disvae/metrics/boosted_trees.py) against hand-worked
trees and against scikit-learn's GradientBoostingClassifier, the recipe they re-implement.

Exact agreement with scikit-learn is expected where no two candidate splits tie; ties (for
instance several latents isolating the same point of a small node) are broken at random by
both, with different draws, so on noisy factors the two agree closely but not exactly.
"""
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.tree import DecisionTreeRegressor

from disvae.metrics.boosted_trees import BoostedTreesClassifier, _grow_tree, _SplitSearch

ULP_AT_ONE = np.float32(2.0 ** -23)  # float32 spacing in [1, 2): 1.19e-7


def latents(n_points, n_latents, n_classes, seed, noise):
    """Codes of a factor with n_classes values placed on a circle in latents 0 and 1 (noise
    of standard deviation `noise`), a constant latent 2, a near-constant latent 3 (spread
    1e-6, so that float32 rounding makes many neighbours tie), a collapsed latent 4 (spread
    0.01) and uninformative ones. Returns (codes, classes)."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, n_classes, n_points)
    codes = rng.normal(size=(n_points, n_latents))
    angle = 2 * np.pi * classes / n_classes
    codes[:, 0] = np.cos(angle) + rng.normal(0, noise, n_points)
    codes[:, 1] = np.sin(angle) + rng.normal(0, noise, n_points)
    codes[:, 2] = 0.3
    codes[:, 3] = 0.5 + 1e-6 * rng.normal(size=n_points)
    codes[:, 4] *= 0.01
    return codes, classes


# --- hand-worked trees -------------------------------------------------------------------

def test_binary_stump_split_and_newton_leaves_by_hand():
    """Labels 0, 0, 0, 1 at x = 0, 1, 2, 3 (and a constant second feature). Prior 1/4:
    F0 = log(1/3), residuals r = y - 1/4 = (-1/4, -1/4, -1/4, 3/4), summing to 0. The
    proxy sum_L^2/n_L + sum_R^2/n_R is 1/16 + 1/48 = 1/12 after the first point, 1/16 + 1/16
    = 1/8 after the second, 3/16 + 9/16 = 3/4 after the third: threshold 2.5. Newton steps:
    mean r / mean p(1 - p) with p(1 - p) = 3/16: -4/3 on the left, 4 on the right."""
    x = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    y = np.array([0, 0, 0, 1])
    model = BoostedTreesClassifier(n_estimators=1, max_depth=1).fit(x, y)
    assert model.split_features_[0, 0, 0] == 0 and model.thresholds_[0, 0, 0] == 2.5
    np.testing.assert_allclose(model.leaf_values_[0, 0], [-4 / 3, 4], rtol=1e-12)
    expected = np.log(1 / 3) + 0.1 * np.array([-4 / 3, -4 / 3, -4 / 3, 4])
    np.testing.assert_allclose(model.decision_function(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(x), [0, 0, 0, 0])  # log(1/3) + 0.4 < 0
    np.testing.assert_array_equal(model.feature_importances_, [1.0, 0.0])


def test_multiclass_stumps_scale_newton_steps_by_k_minus_1_over_k():
    """Labels 0, 0, 0, 1, 1, 2 at x = 0 .. 5: priors 1/2, 1/3, 1/6, so softmax(F0) = prior
    and r_k = [y = k] - p_k. Class 0 splits after the third point (proxy 3/2), class 1 too
    (sum_L = -1: 1/3 + 1/3 = 2/3, the other positions give at most 1/3), class 2 after the
    fifth (25/36 (1/5 + 1) = 5/6). Steps (K - 1)/K mean r / mean p(1 - p), K = 3:
    class 0: (2/3)(1/2)/(1/4) = 4/3 and -4/3; class 1: (2/3)(-1/3)/(2/9) = -1 and
    (2/3)(1/3)/(2/9) = 1; class 2: (2/3)(-1/6)/(5/36) = -4/5 and (2/3)(5/6)/(5/36) = 4."""
    x = np.arange(6.0)[:, None]
    y = np.array([0, 0, 0, 1, 1, 2])
    model = BoostedTreesClassifier(n_estimators=1, max_depth=1).fit(x, y)
    np.testing.assert_array_equal(model.thresholds_[0, :, 0], [2.5, 2.5, 4.5])
    np.testing.assert_allclose(model.leaf_values_[0], [[4 / 3, -4 / 3], [-1, 1], [-4 / 5, 4]],
                               rtol=1e-12)
    prior = np.array([1 / 2, 1 / 3, 1 / 6])
    np.testing.assert_allclose(model.init_, np.log(prior) - np.log(prior).mean(), rtol=1e-12)


def test_neighbours_one_float32_step_apart_are_never_separated():
    """scikit-learn does not split between sorted values v, w with w <= v + 1e-7 in float32:
    at 1.0 a gap of one float32 step (1.19e-7) is a tie, two steps are not. The target
    follows the step index, so the best splits would fall inside the ties if allowed."""
    steps = np.array([0, 1, 3, 4, 7, 8, 12])
    rng = np.random.default_rng(0)
    index = rng.choice(steps, 400)
    x = (np.float32(1.0) + index.astype(np.float32) * ULP_AT_ONE)[:, None]
    target = index + rng.normal(0, 0.1, 400)
    features, thresholds, leaves, _ = _grow_tree(_SplitSearch(x, rng), target, 3)
    separable = [(1, 3), (4, 7), (8, 12)]
    allowed = {float(np.float32(1.0) + a * ULP_AT_ONE) / 2 + float(np.float32(1.0) + b * ULP_AT_ONE) / 2
               for a, b in separable}
    assert set(thresholds[np.isfinite(thresholds)]) == allowed
    for tied in ((0, 1), (3, 4), (7, 8)):
        assert len(np.unique(leaves[np.isin(index, tied)])) == 1
    reference = DecisionTreeRegressor(max_depth=3, random_state=0).fit(x, target).tree_
    assert set(reference.threshold[reference.feature >= 0]) == allowed


# --- against scikit-learn ----------------------------------------------------------------

def same_partition(first, second):
    """Whether two labelings group the points identically."""
    pairs = set(zip(first.tolist(), second.tolist()))
    return len(pairs) == len(set(first.tolist())) == len(set(second.tolist()))


@pytest.mark.parametrize("n_points, n_latents, seed", [(1000, 5, 0), (2000, 8, 1), (3000, 10, 2)])
def test_one_regression_tree_equals_sklearns(n_points, n_latents, seed):
    """A depth-3 tree on a continuous target (no ties) is scikit-learn's tree: the same
    splits (feature and float64 threshold), the same leaves and unnormalised importances."""
    codes, _ = latents(n_points, n_latents, 3, seed, noise=0.3)
    rng = np.random.default_rng(seed)
    target = np.sin(3 * codes[:, 0]) + codes[:, 1] ** 2 + rng.normal(0, 0.3, n_points)
    x = codes.astype(np.float32)
    features, thresholds, leaves, importance = _grow_tree(_SplitSearch(x, rng), target, 3)
    reference = DecisionTreeRegressor(max_depth=3, random_state=0).fit(x, target)
    tree = reference.tree_
    ours = sorted(zip(features[np.isfinite(thresholds)], thresholds[np.isfinite(thresholds)]))
    theirs = sorted(zip(tree.feature[tree.feature >= 0], tree.threshold[tree.feature >= 0]))
    assert ours == theirs
    assert same_partition(leaves, reference.apply(x))
    np.testing.assert_allclose(importance, tree.compute_feature_importances(normalize=False),
                               rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("n_points, n_latents, n_classes, n_estimators, noise, seed", [
    (600, 5, 2, 30, 0.3, 0),
    (1000, 6, 3, 30, 0.2, 0),
    (3000, 10, 7, 5, 0.3, 0),
])
def test_boosted_trees_equal_sklearns_where_no_splits_tie(n_points, n_latents, n_classes,
                                                          n_estimators, noise, seed):
    """Binary, 3- and 7-class factors, with constant, near-constant and collapsed latents:
    importances, raw scores and predicted classes on the training and on new points equal
    scikit-learn's to rounding (these fits meet no tie between candidate splits)."""
    codes, classes = latents(n_points, n_latents, n_classes, seed, noise)
    new_codes, _ = latents(500, n_latents, n_classes, seed + 100, noise)
    ours = BoostedTreesClassifier(n_estimators=n_estimators, random_state=0).fit(codes, classes)
    theirs = GradientBoostingClassifier(n_estimators=n_estimators, random_state=0).fit(
        codes, classes)
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_,
                               rtol=1e-9, atol=1e-12)
    for x in (codes, new_codes):
        np.testing.assert_allclose(ours.decision_function(x), theirs.decision_function(x),
                                   rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))


def test_on_noisy_factors_ties_move_importances_and_accuracy_only_slightly():
    """With overlapping classes, small nodes tie often and the two implementations keep
    different equally good splits there: the importances still agree within 2e-3 and the
    accuracies within 1%."""
    codes, classes = latents(2000, 8, 7, 1, noise=0.3)
    new_codes, new_classes = latents(1000, 8, 7, 101, noise=0.3)
    ours = BoostedTreesClassifier(n_estimators=20, random_state=0).fit(codes, classes)
    theirs = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(codes, classes)
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, atol=2e-3)
    for x, y in ((codes, classes), (new_codes, new_classes)):
        assert np.mean(ours.predict(x) == y) == pytest.approx(np.mean(theirs.predict(x) == y),
                                                              abs=0.01)


def test_ties_between_duplicated_latents_are_drawn_at_random():
    """Two identical latents tie at every split: as in scikit-learn, either may be chosen, so
    both receive a good share of the importance, and a seed fixes the draws."""
    codes, classes = latents(1000, 5, 3, 0, noise=0.3)
    twins = np.column_stack([codes[:, 0], codes[:, 0]])
    first = BoostedTreesClassifier(n_estimators=20, random_state=1).fit(twins, classes)
    assert min(first.feature_importances_) > 0.2
    again = BoostedTreesClassifier(n_estimators=20, random_state=1).fit(twins, classes)
    np.testing.assert_array_equal(first.feature_importances_, again.feature_importances_)


def test_labels_keep_their_values_and_bad_input_is_named():
    codes, classes = latents(300, 5, 3, 0, noise=0.2)
    labels = np.array([10, 20, 30])[classes]
    model = BoostedTreesClassifier(n_estimators=5).fit(codes, labels)
    assert set(model.predict(codes)) <= {10, 20, 30}
    with pytest.raises(ValueError, match="at least 2 classes"):
        BoostedTreesClassifier(n_estimators=5).fit(codes, np.zeros(300))
    codes[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        BoostedTreesClassifier(n_estimators=5).fit(codes, classes)
