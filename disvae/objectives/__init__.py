"""The training objectives: each one declared once, in its own module, without torch.

A declaration (`Objective`) says what the rest of the toolkit needs to know about an
objective: its name (`-l NAME`), its paper, its hyperparameters (command-line flag, type,
default, help, the paper's symbol, the keyword of the loss class), the terms it logs beyond
the common ones, and whether it trains a discriminator on half of every batch. main.py's
options, the `[Custom]` check of hyperparam.ini, the `-x <loss>_<dataset>` presets, the
summary's hyperparameter columns, the loss curves' panels and the batch scripts' list of
losses are all read from these declarations. The loss itself (the maths, with torch) is the
class named by `implementation`, imported only when a loss is built, so that reading the
declarations (e.g. `python main.py -h`) stays fast.

Built-in objectives are the modules of BUILTIN_MODULES. A user adds one without touching the
toolkit: a module (an importable name or a path to a .py file) defining `OBJECTIVES`, a list
of `Objective`s, named in the environment variable DISVAE_OBJECTIVES (several separated by
os.pathsep). `python -m disvae.objectives` prints the registered names, one per line.
"""
import dataclasses
import functools
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field

BUILTIN_MODULES = ("disvae.objectives.vae", "disvae.objectives.beta_h",
                   "disvae.objectives.beta_b", "disvae.objectives.factor",
                   "disvae.objectives.btcvae", "disvae.objectives.dip")
USER_MODULES_ENV = "DISVAE_OBJECTIVES"
# -log p(x|z) of the decoder, shared by every objective (disvae.models.losses)
RECONSTRUCTION_DISTRIBUTIONS = ("bernoulli", "laplace", "gaussian")
# Logged by every objective: the reconstruction, the KL (and its value per latent, as
# kl_loss_<d>), and the objective itself; the value is the panel of the loss curves.
COMMON_TERMS = {"recon_loss": "reconstruction", "kl_loss": "KL and its decomposition",
                "loss": "objective"}


class ObjectiveError(ValueError):
    """A declaration or a user's objective module that cannot be used; names the fix."""


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of an objective.

    name: the option's destination, key of specs.json and of hyperparam.ini (`betaH_B`);
    its flag is `--` + name with `_` as `-` (`--betaH-B`). symbol: the paper's symbol, the
    summary's column. keyword: the argument of the loss class that receives the value,
    after `to_argument` (e.g. the estimator's name to a flag). positive: the value must be
    above 0 (a learning rate).
    """
    name: str
    type: type
    default: object
    help: str
    symbol: str
    keyword: str
    choices: tuple = None
    to_argument: object = None
    positive: bool = False

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def argument(self, value):
        return self.to_argument(value) if self.to_argument else value


@dataclass(frozen=True)
class Objective:
    """The declaration of one training objective.

    implementation: "module:Class" of the loss, built as Class(latent_dim, rec_dist=...,
    reg_anneal=..., <context>..., <keyword>=<value>...), where context names what the loss
    needs besides its hyperparameters ("n_data": training-set size, "device").
    terms: {logged term: panel of the loss curves} beyond COMMON_TERMS.
    trains_discriminator: the loss trains a discriminator on half of every batch (its own
    trained state, kept in the checkpoint); the toolkit then doubles the batch size and the
    epochs, as the original did for FactorVAE.
    """
    name: str
    title: str
    paper: str
    formula: str
    implementation: str
    hyperparameters: tuple = ()
    terms: dict = field(default_factory=dict)
    context: tuple = ()
    trains_discriminator: bool = False

    def loss_class(self):
        module, _, attribute = self.implementation.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def options_class(self):
        """A dataclass of this objective's hyperparameters (their declared defaults)."""
        return dataclasses.make_dataclass(
            f"{self.name}Options",
            [(h.name, h.type, field(default=h.default)) for h in self.hyperparameters],
            frozen=True)

    def build(self, hyperparameters, latent_dim, rec_dist="bernoulli", reg_anneal=0,
              n_data=None, device="cpu"):
        """The loss, from a dataclass of options_class() (or any object with its fields)."""
        context = {"n_data": n_data, "device": device}
        arguments = {h.keyword: h.argument(getattr(hyperparameters, h.name))
                     for h in self.hyperparameters}
        return self.loss_class()(latent_dim, rec_dist=rec_dist, reg_anneal=reg_anneal,
                                 **{key: context[key] for key in self.context}, **arguments)


def _import(entry):
    """A module from an importable name or a path to a .py file (then importable by its file
    name, so that its `implementation` can be "<file name>:<class>")."""
    if entry.endswith(".py") or os.sep in entry:
        if not os.path.isfile(entry):
            raise ObjectiveError(f"no file {entry} named in ${USER_MODULES_ENV}: fix the path")
        name = os.path.splitext(os.path.basename(entry))[0]
        if name in sys.modules:  # read once (its implementation is imported by this name)
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, entry)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(entry)
    except ModuleNotFoundError as error:
        raise ObjectiveError(f"cannot import {entry!r} named in ${USER_MODULES_ENV} "
                             f"({error}): give a path to its .py file or add its folder to "
                             f"PYTHONPATH") from None


def registered():
    """{name: Objective} of the built-in modules, then those named in $DISVAE_OBJECTIVES, in
    that order; ObjectiveError for a user's module that cannot be used."""
    return registered_objectives(os.environ.get(USER_MODULES_ENV, ""))


@functools.lru_cache(maxsize=None)
def registered_objectives(user_modules):
    """{name: Objective} of the built-in modules, then those of user_modules (entries
    separated by os.pathsep)."""
    entries = [entry for entry in user_modules.split(os.pathsep) if entry]
    objectives = {}
    for module in [importlib.import_module(name) for name in BUILTIN_MODULES] + [
            _import(entry) for entry in entries]:
        for objective in getattr(module, "OBJECTIVES", None) or ():
            if not isinstance(objective, Objective):
                raise ObjectiveError(f"{module.__name__}.OBJECTIVES holds {objective!r}: "
                                     f"list disvae.objectives.Objective declarations")
            if objective.name in objectives:
                raise ObjectiveError(f"two objectives are named {objective.name!r} (the second "
                                     f"in {module.__name__}): rename one")
            objectives[objective.name] = objective
        if not getattr(module, "OBJECTIVES", None):
            raise ObjectiveError(f"module {module.__name__} declares no OBJECTIVES: define "
                                 f"OBJECTIVES = [Objective(...)] in it")
    _check_hyperparameters(objectives.values())
    return objectives


def _check_hyperparameters(objectives):
    """Every hyperparameter name is an option of one objective only."""
    owners = {}
    for objective in objectives:
        for hyper in objective.hyperparameters:
            if owners.setdefault(hyper.name, objective.name) != objective.name:
                raise ObjectiveError(f"objectives {owners[hyper.name]!r} and {objective.name!r} "
                                     f"both declare the option {hyper.name!r}: rename one")


def term_panels(objectives=None):
    """{logged term: panel of the loss curves}: the common terms, then every objective's."""
    panels = dict(COMMON_TERMS)
    for objective in (objectives or registered()).values():
        panels.update(objective.terms)
    return panels


def split_preset(experiment, datasets, objectives=None):
    """(loss, dataset) of a `<loss>_<dataset>` preset name, or None. Loss and dataset
    names may contain `_`: the loss is the registered name followed by `_` and a known
    dataset."""
    for name in objectives or registered():
        if experiment.startswith(name + "_") and experiment[len(name) + 1:] in datasets:
            return name, experiment[len(name) + 1:]
    return None
