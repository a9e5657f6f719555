"""CPU time of one boosted-trees fit: scikit-learn's GradientBoostingClassifier against
disvae/metrics/boosted_trees.py on the same points, with the largest importance difference.

    .venv/bin/python bench/bench_boosted_trees.py [n_classes] [n_estimators] [n_points]

Points: 10 latents, the factor's classes on a circle in latents 0 and 1 (noise 0.1), the
other latents noise. CPU time (time.process_time) so that a busy machine's waiting is not
counted; two rounds.
"""
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from disvae.metrics.boosted_trees import BoostedTreesClassifier  # noqa: E402


def main():
    n_classes, n_estimators, n_points = (int(a) for a in (sys.argv[1:] + ["7", "20", "3000"][
        len(sys.argv) - 1:]))
    rng = np.random.default_rng(0)
    classes = rng.integers(0, n_classes, n_points)
    codes = rng.normal(0, 0.1, size=(n_points, 10))
    codes[:, 0] += np.cos(2 * np.pi * classes / n_classes)
    codes[:, 1] += np.sin(2 * np.pi * classes / n_classes)
    for _ in range(2):
        start = time.process_time()
        theirs = GradientBoostingClassifier(n_estimators=n_estimators, random_state=0).fit(
            codes, classes)
        seconds_theirs = time.process_time() - start
        start = time.process_time()
        ours = BoostedTreesClassifier(n_estimators=n_estimators, random_state=0).fit(
            codes, classes)
        seconds_ours = time.process_time() - start
        difference = np.abs(ours.feature_importances_ - theirs.feature_importances_).max()
        print(f"{n_classes} classes, {n_estimators} iterations, {n_points} points: CPU "
              f"scikit-learn {seconds_theirs:.2f} s, ours {seconds_ours:.2f} s, ratio "
              f"{seconds_theirs / seconds_ours:.1f}x; importance difference {difference:.1g}")


if __name__ == "__main__":
    main()
