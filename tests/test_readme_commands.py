"""The commands the README and docs/ show are commands that work.

The README's block marked `<!-- run-in-test -->` runs here in order, each command as written,
in an empty working folder, on the 2,048-image dSprites subset (`--data-dir` added, as for any
data outside data/) with the step budgets divided by STEP_SCALE (`--max-steps 2000` runs 4
steps) and the metric recipes shrunk (`small_recipes`); each command's files are then checked.
Every other `main.py`, `main_viz.py` and `utils.sweep` command of the README and docs/, in a
code block or inline, must at least be accepted by its program's command line, and every
relative link of those pages must point to a file of the repository.
"""
import re
import shlex
from pathlib import Path

import pytest

import main
import main_viz
from training_runs import one_thread, run_main  # noqa: F401 (autouse: one PyTorch thread)
from utils import config, sweep

REPO = Path(__file__).resolve().parents[1]
RUN_MARKER = "<!-- run-in-test -->"
STEP_SCALE = 500
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
VIZ_ALL_FILES = {"data_samples.png", "kl_per_dim.png", "latent_vs_factor.png", "loss_curves.png",
                 "mi_matrix.png", "posterior_traversals.gif", "prior_traversals.png",
                 "reconstruct.png", "reconstruct_traverse.png", "samples.png"}


def command_lines(block):
    """The commands of a shell code block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def marked_commands():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(rf"{re.escape(RUN_MARKER)}\n```bash\n(.*?)```", readme, re.S)
    assert blocks, f"no block marked {RUN_MARKER} in README.md"
    return [argv for block in blocks for argv in command_lines(block)]


def documented_commands():
    """(document, argv) of every command of a program of the toolkit in the README and
    docs/: the lines of code blocks, and inline code; templates (`<name>`) left out."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        lines = [argv for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                 for argv in command_lines(block)]
        lines += [shlex.split(span) for span in re.findall(r"`((?:python|torchrun) [^`]*)`", text)]
        for argv in lines:
            program = next((word for word in argv if word.endswith(".py") or
                            word == "utils.sweep"), None)
            if program in ("main.py", "main_viz.py", "utils.sweep") and \
                    not any("<" in word or "..." in word for word in argv):
                found.append((document.name, program, argv[argv.index(program) + 1:]))
    return found


def scaled(argv, data_dir):
    """argv with --max-steps divided by STEP_SCALE and the small data folder."""
    argv = list(argv)
    for i, word in enumerate(argv[:-1]):
        if word == "--max-steps":
            argv[i + 1] = str(max(1, int(argv[i + 1]) // STEP_SCALE))
    return argv + ["--data-dir", str(data_dir)]


def value_of(argv, option):
    return argv[argv.index(option) + 1] if option in argv else None


def check_outputs(argv, results):
    """The files a README command promises, in results/<name>/."""
    program, args = argv[1], argv[2:]
    run = results / args[0]
    if program == "main_viz.py":
        assert VIZ_ALL_FILES <= {path.name for path in run.iterdir()}
        return
    specs = config.load_specs(run)
    if "--is-metrics" in args:
        assert (run / "metrics.log").is_file()
    if "--is-eval-only" in args:
        return
    assert (run / "model.pt").is_file() and (run / "training.gif").is_file()
    assert specs["steps"] == int(value_of(args, "--max-steps"))
    if "--resume" in args:
        assert len(specs["resumes"]) == 1
    if "--subset" in args:
        assert specs["subset"] == specs["n_train"] == int(value_of(args, "--subset"))


def test_readme_usage_runs_as_written(dsprites_data_dir, tmp_path, monkeypatch, small_recipes,
                                      capsys):
    commands = marked_commands()
    assert [argv[:2] for argv in commands][:3] == [["python", "main.py"], ["python", "main.py"],
                                                   ["python", "main_viz.py"]]
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        args = scaled(argv[2:], dsprites_data_dir)
        if argv[1] == "main.py":
            outcome, err = run_main(capsys, *args, "--no-progress-bar")
            assert outcome is None, f"{shlex.join(argv)}: {outcome}"
        else:
            main_viz.main(args)
        check_outputs(argv[:2] + args, tmp_path / "results")


def test_resuming_a_finished_run_without_more_steps_is_refused_as_documented(
        dsprites_data_dir, tmp_path, capsys):
    """docs/training.md: after --max-steps, a plain --resume names the fix."""
    common = ["--no-test", "--no-progress-bar", "--data-dir", dsprites_data_dir,
              "--results-dir", tmp_path]
    assert run_main(capsys, "r1", "-x", "btcvae_dsprites", "--max-steps", 2, *common)[0] is None
    outcome, _ = run_main(capsys, "r1", "--resume", *common)
    assert outcome == ("error: run 'r1' already finished (epoch 0 of 30, step 2 of max-steps "
                       "2): raise --epochs or --max-steps to train further")
    assert "--resume` continues up to the run's own limits" in \
        (REPO / "docs" / "training.md").read_text()


def parsers():
    defaults = config.get_section(config.read_config(config.CONFIG_FILE), "Custom")
    return {"main.py": main.build_parser(defaults), "main_viz.py": main_viz.build_parser(),
            "utils.sweep": sweep.build_parser()}


@pytest.mark.parametrize("document, program, args", documented_commands(),
                         ids=lambda value: value if isinstance(value, str) else None)
def test_every_documented_command_is_accepted(document, program, args, capsys):
    if program == "utils.sweep" and "--" in args:  # what follows -- goes to every main.py
        split = args.index("--")
        args, main_options = args[:split], args[split + 1:]
        test_every_documented_command_is_accepted(document, "main.py", ["run", *main_options],
                                                  capsys)
    try:
        parsers()[program].parse_args(args)
    except SystemExit as stop:  # -h exits with 0 once it has printed the help
        if stop.code in (0, None):
            return
        pytest.fail(f"{document}: {program} {shlex.join(args)}: {stop.code} "
                    f"{capsys.readouterr().err}")
    if program == "main.py" and "-x" in args:
        presets = config.read_config(config.CONFIG_FILE)
        name = value_of(args, "-x")
        assert name in ("custom", "debug") or presets.has_section(name) or \
            presets.has_section(f"Common_{name.split('_', 1)[1]}"), name


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_points_to_a_file(document):
    text = document.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", text) + re.findall(r'src="([^"]+)"', text)
    missing = [target for target in targets if not target.startswith(("http://", "https://"))
               and not (document.parent / target).exists()]
    assert not missing, f"{document.name}: {missing}"
