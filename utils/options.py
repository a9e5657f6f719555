"""A run's resolved options as one typed object: a dataclass per group, to and from the flat
keys of specs.json (which stay those of the original toolkit).

`Options.from_flat(specs)` sorts the keys of a specs.json (or of main.py's resolved options)
into the groups below and the chosen objective's hyperparameters (a dataclass made from its
declaration, disvae.objectives); every other key (facts such as img_size or n_train, the
hyperparameters of the other objectives) is kept in `extra`, so that `to_flat()` gives back
the same keys and values. A builder takes the group it needs: the loss its objective's
hyperparameters, the model the model group. Attribute access falls through to the groups:
`options.loss` is `options.training.loss`.
"""
import dataclasses
from dataclasses import dataclass, field

from disvae.objectives import USER_MODULES_ENV, registered
from utils.config import ConfigError

DISCRIMINATOR_DOUBLED_OPTIONS = ("batch_size", "epochs")


@dataclass
class RunOptions:
    name: str = None
    results_dir: str = None
    experiment: str = None
    resume: bool = None
    seed: int = None
    log_level: str = None
    no_progress_bar: bool = None
    no_cuda: bool = None


@dataclass
class DataOptions:
    dataset: str = None
    data_dir: str = None


@dataclass
class ModelOptions:
    model_type: str = None
    latent_dim: int = None


@dataclass
class TrainingOptions:
    loss: str = None
    rec_dist: str = None
    reg_anneal: float = None
    epochs: int = None
    max_steps: int = None
    batch_size: int = None
    lr: float = None
    checkpoint_every: int = None
    log_every_steps: int = None
    no_channels_last: bool = None
    amp: bool = None
    compile: bool = None


@dataclass
class EvaluationOptions:
    is_eval_only: bool = None
    is_metrics: bool = None
    no_test: bool = None
    metrics_images: int = None
    dci_trees: int = None
    eval_batchsize: int = None


GROUPS = {"run": RunOptions, "data": DataOptions, "model": ModelOptions,
          "training": TrainingOptions, "evaluation": EvaluationOptions}


@dataclass
class Options:
    """The groups, the objective's hyperparameters and the other keys (`extra`)."""
    run: RunOptions
    data: DataOptions
    model: ModelOptions
    training: TrainingOptions
    evaluation: EvaluationOptions
    objective: object
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_flat(cls, flat):
        """Options of a flat dict (specs.json, main.py's options); the objective's missing
        hyperparameters (a run older than them) take their declared defaults."""
        remaining = dict(flat)
        groups = {}
        for group, group_class in GROUPS.items():
            names = [f.name for f in dataclasses.fields(group_class)]
            groups[group] = group_class(**{name: remaining.pop(name) for name in names
                                           if name in remaining})
        objective = registered().get(groups["training"].loss)
        hyperparameters = None
        if objective is not None:
            hyperparameters = objective.options_class()(**{
                h.name: remaining.pop(h.name) for h in objective.hyperparameters
                if h.name in remaining})
        return cls(**groups, objective=hyperparameters, extra=remaining)

    def to_flat(self):
        """The flat dict of specs.json."""
        flat = {}
        for group in (*GROUPS, "objective"):
            value = getattr(self, group)
            if value is not None:
                flat.update(dataclasses.asdict(value))
        flat.update(self.extra)
        return flat

    def __getattr__(self, name):
        if name.startswith("__") or name in GROUPS or name in ("objective", "extra"):
            raise AttributeError(name)
        for group in (*GROUPS, "objective"):
            value = getattr(self, group)
            if value is not None and name in {f.name for f in dataclasses.fields(value)}:
                return getattr(value, name)
        if name in self.extra:
            return self.extra[name]
        raise AttributeError(f"no option {name!r}")


def double_for_discriminator(options):
    """An objective that trains a discriminator on half of every batch (FactorVAE) gets its
    batch size and epochs doubled, as in the original toolkit; returns the doubled values
    present in options."""
    return {key: options[key] * 2 for key in DISCRIMINATOR_DOUBLED_OPTIONS if key in options}


def objective_of(specs, name):
    """The registered objective of a run's options; ConfigError naming the fix for a run of
    an objective that is not registered (a user's module not named in the environment)."""
    objective = registered().get(specs.get("loss"))
    if objective is None:
        raise ConfigError(f"run {name!r} was trained with the objective "
                                 f"{specs.get('loss')!r}, which is not registered: name its "
                                 f"module in ${USER_MODULES_ENV} (see disvae/objectives)")
    return objective


def trains_discriminator(loss):
    """Whether the registered objective `loss` trains a discriminator on half of every batch."""
    objective = registered().get(loss)
    return objective is not None and objective.trains_discriminator
