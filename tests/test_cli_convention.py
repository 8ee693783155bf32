"""Every command builds its parser one way (common.cli): help from its docstring, --device with
common.device's choices, --config/--set where it reads a YAML configuration, --weights always a
checkpoint; and the README's and docs/'s commands use only flags their parsers know."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex

import pytest
from shared_paths import REPO_ROOT

from common.cli import config_overrides, parse_assignments
from common.device import DEVICE_CHOICES, is_device_name, select_device
from common.errors import UserError

# Every `python -m ...` entry point (run_demo.py runs app.gui.launch), listed once.
COMMANDS = {
    "app.classify_video": "python -m app.classify_video",
    "app.gui.launch": "run_demo.py",
    "app.watch": "python -m app.watch",
    "weights.export": "python -m weights.export",
    "model.summary": "python -m model.summary",
    "weights.__main__": "python -m weights",
    "train.run": "python -m train.run",
    "train.gendata": "python -m train.gendata",
    "train.synthetic": "python -m train.synthetic",
    "train.evaluate": "python -m train.evaluate",
    "train.ensemble": "python -m train.ensemble",
    "train.from_videos": "python -m train.from_videos",
    "bench.data": "python -m bench.data",
    "bench.train": "python -m bench.train",
    "bench.model": "python -m bench.model",
    "bench.profile": "python -m bench.profile",
    "bench.temporal_shift": "python -m bench.temporal_shift",
    "bench.pipeline": "python -m bench.pipeline",
    "bench.looped_windows": "python -m bench.looped_windows",
    "bench.skeleton_gap": "python -m bench.skeleton_gap",
    "bench.real_set": "python -m bench.real_set",
    "bench.finetune": "python -m bench.finetune",
    "bench.few_shot": "python -m bench.few_shot",
    "bench.memory": "python -m bench.memory",
    "bench.video_set": "python -m bench.video_set",
    "bench.int8": "python -m bench.int8",
    "bench.pose_cost": "python -m bench.pose_cost",
}
# The commands that read a YAML configuration: each takes --config and --set.
CONFIG_COMMANDS = {
    "app.classify_video",
    "app.watch",
    "app.gui.launch",
    "model.summary",
    "train.run",
    "train.from_videos",
    "bench.train",
    "bench.finetune",
    "bench.real_set",
    "bench.few_shot",
}
DEVICE_COMMANDS = {
    "app.classify_video",
    "app.watch",
    "app.gui.launch",
    "train.run",
    "train.evaluate",
    "train.from_videos",
    "bench.train",
    "bench.model",
    "bench.real_set",
}
WEIGHTS_COMMANDS = {
    "app.classify_video",
    "app.watch",
    "app.gui.launch",
    "weights.export",
    "train.evaluate",
    "bench.model",
    "bench.profile",
    "bench.pipeline",
    "bench.looped_windows",
    "bench.skeleton_gap",
    "bench.real_set",
    "bench.int8",
}


def _module(name: str):
    """The command's module, found by the name the list gives (with or without .__main__)."""
    return importlib.import_module(name)


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option string of `parser` and of its subcommands, with its action."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.update(_actions(sub))
        for option in action.option_strings:
            found[option] = action
    return found


@pytest.fixture(scope="module", params=sorted(COMMANDS))
def command(request) -> tuple[str, argparse.ArgumentParser]:
    return request.param, _module(request.param).build_parser()


def test_the_list_names_every_command_module():
    """A module with a `raise SystemExit(main())` entry point is in COMMANDS."""
    found = set()
    for path in REPO_ROOT.glob("*/**/*.py"):
        if "tests" in path.parts or path.is_relative_to(REPO_ROOT / "shared"):
            continue
        if "raise SystemExit(main())" in path.read_text(encoding="utf-8"):
            found.add(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
    assert found == set(COMMANDS) - {"app.gui.launch"}


def test_parser_is_built_by_common_cli(command):
    name, parser = command
    module = _module(name)
    assert parser.prog == COMMANDS[name]
    assert parser.description == module.__doc__  # the docstring, as written
    assert parser.formatter_class is argparse.RawDescriptionHelpFormatter
    assert (
        "raise SystemExit(main())"
        in (
            REPO_ROOT / "run_demo.py" if name == "app.gui.launch" else REPO_ROOT / module.__file__
        ).read_text()
    )
    assert getattr(module.main, "__wrapped__", None) is not None  # cli_entry: one-line errors


def test_shared_flags_follow_the_convention(command):
    name, parser = command
    actions = _actions(parser)
    if "--device" in actions or name in DEVICE_COMMANDS:
        assert tuple(actions["--device"].choices) == DEVICE_CHOICES, name
        assert "cuda:1" in actions["--device"].choices and "gpu" not in actions["--device"].choices
    if name in CONFIG_COMMANDS:
        assert actions["--config"].metavar == "YAML", name
        assert isinstance(actions["--set"], argparse._AppendAction), name
    else:
        assert "--set" not in actions, name
    if name in WEIGHTS_COMMANDS:
        assert "checkpoint" in actions["--weights"].help, name
    else:
        assert "--weights" not in actions, name


def test_weights_defaults_are_the_registrys(command):
    """A --weights default names the registry's default checkpoint; others take it later (the
    pipeline's configuration) or require a checkpoint."""
    from weights import default_name

    name, parser = command
    action = _actions(parser).get("--weights")
    if action is not None and action.default is not None:
        default = action.default if isinstance(action.default, str) else action.default[0]
        assert default == default_name(), name


def test_help_exits_zero(command):
    name, parser = command
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        _module(name).main(["--help"])
    assert stop.value.code == 0
    assert out.getvalue().startswith(f"usage: {COMMANDS[name]}")


def test_readme_commands_use_known_flags():
    """Each `python -m X` / `python run_demo.py` line of the README's and docs/'s code (blocks and
    inline) uses its flags."""
    checked = 0
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        checked += _check_documented_flags(path)
    assert checked >= 60  # the README's and the measurements' commands (docs/)


def _check_documented_flags(path) -> int:
    """Assert the flags of every project command in `path`'s code; how many commands it checked."""
    doc = path.read_text(encoding="utf-8")
    text = "\n".join(re.findall(r"```bash\n(.*?)```", doc, re.S)).replace("\\\n", " ")
    text += "\n" + "\n".join(re.findall(r"`((?:python|torchrun)[^`]*)`", doc))
    by_prog = {prog: name for name, prog in COMMANDS.items()}
    checked = 0
    for line in text.splitlines():
        words = shlex.split(line.split("#")[0].replace("[", " ").replace("]", " "))
        for start, word in enumerate(words):
            prog = (
                f"python -m {words[start + 1]}"
                if word == "-m" and start + 1 < len(words)
                else "run_demo.py"
                if word == "run_demo.py"
                else None
            )
            if prog not in by_prog:
                continue
            known = _actions(_module(by_prog[prog]).build_parser())
            for flag in (w.split("=")[0] for w in words[start:] if w.startswith("--")):
                assert flag in known, f"{path.name}: {line.strip()!r}: {flag} is no flag of {prog}"
            checked += 1
    return checked


def test_set_values_are_yaml_and_keys_nest():
    assert parse_assignments(["a.b=3", "a.c=[1, 2]", "d=yes", "e=text", "f="]) == {
        "a": {"b": 3, "c": [1, 2]},
        "d": True,
        "e": "text",
        "f": None,
    }
    for bad in ("novalue", "=3", "a..b=1", "x=[1"):
        with pytest.raises(UserError, match="--set"):
            parse_assignments([bad])
    with pytest.raises(UserError, match="set one or the other"):
        parse_assignments(["a=1", "a.b=2"])


def test_named_flags_go_above_set_and_none_sets_nothing():
    args = argparse.Namespace(set=["classifier.window=50", "classifier.stride=5", "device=cpu"])
    flags = {"device": None, "classifier": {"window": 80, "stride": None}, "tracker": {"a": None}}
    assert config_overrides(args, flags) == {
        "device": "cpu",
        "classifier": {"window": 80, "stride": 5},
    }


def test_device_names_agree_with_select_device():
    for name in (*DEVICE_CHOICES, "cuda:0", "cuda:12"):
        assert is_device_name(name)
    for name in ("gpu", "cuda:", "cuda:x", "cpu:0", "mps", "", "CUDA"):
        assert not is_device_name(name)
        with pytest.raises(UserError, match="not one of auto, cpu, cuda or cuda:N"):
            select_device(name)
    assert select_device("cpu").type == "cpu"


def test_every_option_has_help(command):
    """`--help` explains every option and argument, subcommands' too."""
    name, parser = command
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += action.choices.values()
    bare = [
        action.option_strings[0] if action.option_strings else action.dest
        for each in parsers
        for action in each._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert bare == [], f"{name}: no help for {bare}"


def test_version_answers_from_pyproject(command, capsys):
    """Every command answers --version with the one version of pyproject.toml."""
    name, parser = command
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--version"])
    assert done.value.code == 0
    version = re.search(r'^version = "(.+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M)
    assert capsys.readouterr().out == f"{COMMANDS[name]} (shiftgcn-live {version.group(1)})\n"
