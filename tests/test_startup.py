"""The command lines answer -h, and the summary reads run folders, without loading torch; the
light registries they read agree with the modules that build the models and datasets."""
import subprocess
import sys
import time

import pytest

from training_runs import REPO

NO_TORCH = "import sys\n{code}\nsys.exit(2 if 'torch' in sys.modules else 0)"


@pytest.mark.parametrize("code", [
    "import main\ntry:\n    main.main(['-h'])\nexcept SystemExit:\n    pass",
    "import utils.summary",
])
def test_help_and_summary_do_not_import_torch(code):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", NO_TORCH.format(code=code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr or "torch was imported"
    print(f"{code.splitlines()[0]}: {time.monotonic() - started:.2f} s")


def test_the_light_registries_match_the_builders():
    from disvae.models import MODEL_NAMES
    from disvae.models.vae import MODELS
    from utils import dataset_registry
    assert set(MODEL_NAMES) == set(MODELS)
    for name in dataset_registry.DATASETS:
        assert callable(dataset_registry.loader(name).func), name
