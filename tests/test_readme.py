"""The README stays a short guide that is true: the CPU-only install pins the torch CI installs
from PyTorch's CPU index, the quick-start writes only under its .gitignored folder, every command
in its code blocks answers --help with the flags it names, and its links (and docs/'s) arrive."""

from __future__ import annotations

import re
import runpy
import shlex
import subprocess
import sys
import warnings

import pytest
from shared_paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
QUICKSTART = "quickstart"


def _bash_blocks(text: str) -> list[str]:
    """The README's ```bash blocks, continuation lines joined."""
    return [block.replace("\\\n", " ") for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_cpu_only_install_uses_the_pinned_torch_from_the_cpu_index():
    ci_pin = re.search(r"pip install -q (torch==\S+)", (REPO_ROOT / ".ci" / "run").read_text())
    assert ci_pin, ".ci/run no longer pins torch"
    install = _bash_blocks(README)[0]
    cpu = next(line for line in install.splitlines() if "--index-url" in line)
    assert f"pip install {ci_pin.group(1)} --index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "pip install -r requirements.txt" in cpu  # one line: the set-up stays two commands
    assert any(line.startswith("pip install -r requirements.txt") for line in install.splitlines())


def test_quick_start_writes_only_under_its_ignored_folder():
    start = README.index("Try it without the dataset")
    section = README[start : README.index("\n## ", start)]  # up to the next section
    assert f"`{QUICKSTART}/`" in section
    commands = [line for block in _bash_blocks(section) for line in block.splitlines() if line]
    assert len(commands) == 4
    for command in commands:
        words = shlex.split(command)
        for flag in ("--out", "--work-dir"):
            if flag in words:
                assert words[words.index(flag) + 1].startswith(f"{QUICKSTART}/"), command
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert f"{QUICKSTART}/" in ignored


def test_ci_builds_its_environment_from_the_readme_test_install():
    """.ci/run installs what the README's Testing section installs, into a fresh virtual
    environment, and runs the README's test command."""
    start = README.index("## Testing")
    testing = _bash_blocks(README[start : README.index("\n## ", start + 1)])[0]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "pip install -r requirements-dev.txt" in testing
    assert "pip install -q -r requirements-dev.txt" in ci
    assert "python -m pytest -q\n" in testing and "python -m pytest -q\n" in ci
    assert "-m venv" in ci and "mktemp -d" in ci  # its own environment, outside the checkout


def _slugs(markdown: str) -> set[str]:
    """The headings' GitHub anchors (lower case, punctuation dropped, spaces to hyphens)."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_link_within_the_readme_reaches_a_heading():
    """The table of contents' #anchors are headings' GitHub slugs."""
    anchors = re.findall(r"\]\(#([^)]+)\)", README)
    assert anchors and [a for a in anchors if a not in _slugs(README)] == []


def test_links_to_the_docs_reach_their_files_and_headings():
    """The README's and docs/'s links to files of the repository (docs/accuracy.md#a-heading)
    name files that exist and, with an #anchor, one of their headings."""
    checked = 0
    for source in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([^)]+))?\)", source.read_text()):
            path = source.parent / target
            assert path.is_file(), f"{source.name}: link to {target}, which does not exist"
            if anchor:
                assert anchor in _slugs(path.read_text()), f"{source.name}: {target}#{anchor}"
            checked += 1
    assert checked >= 7  # the README links each of docs/'s files


MAX_README_LINES = 300
SHELL_OPERATORS = {"&&", "||", ";", "|"}
PROJECT_PACKAGES = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")}


def test_the_readme_is_a_short_guide():
    assert len(README.splitlines()) < MAX_README_LINES


def _python_commands(text: str) -> list[list[str]]:
    """Each `python ...` / `torchrun ... -m ...` command of the ```bash blocks, as the words after
    the interpreter (`-m module ...` or `script.py ...`), comments and shell operators cut."""
    commands = []
    for block in _bash_blocks(text):
        for line in block.splitlines():
            segment: list[str] = []
            for word in [*shlex.split(line, comments=True), ";"]:
                if word not in SHELL_OPERATORS:
                    segment.append(word)
                    continue
                while segment and re.fullmatch(r"\w+=\S*", segment[0]):  # VAR=value prefixes
                    segment.pop(0)
                if segment and segment[0] in ("python", "python3"):
                    commands.append(segment[1:])
                elif segment and segment[0] == "torchrun":
                    commands.append(segment[segment.index("-m") :])
                segment = []
    return commands


def _help_text(args: list[str], monkeypatch, capsys) -> str:
    """`python ARGS --help`'s output, asserting exit status 0: the project's own modules and
    scripts run in this process (runpy, as `python -m` runs them), other tools as a child."""
    argv = [*args, "--help"]
    module = args[1] if args[0] == "-m" else None
    if module is None and not (REPO_ROOT / args[0]).is_file():
        raise AssertionError(f"python {shlex.join(args)}: no such script in the repository")
    if module is not None and module.split(".")[0] not in PROJECT_PACKAGES:
        run = subprocess.run(
            [sys.executable, *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, f"python {shlex.join(argv)}: {run.stderr.strip()}"
        return run.stdout
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, "argv", [module or args[0], *argv[2 if module else 1 :]])
    capsys.readouterr()
    with warnings.catch_warnings(), pytest.raises(SystemExit) as stop:
        # runpy warns where the module was imported already (by an earlier test): harmless here
        warnings.filterwarnings("ignore", ".*found in sys.modules", RuntimeWarning)
        if module:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(str(REPO_ROOT / args[0]), run_name="__main__")
    out, err = capsys.readouterr()
    assert stop.value.code in (0, None), f"python {shlex.join(argv)}: {err.strip()}"
    return out


def test_every_readme_command_answers_help_and_knows_its_flags(monkeypatch, capsys):
    """Each python command of the README's code blocks runs as written with --help appended
    (exit 0: the module or script exists, and positional subcommands such as `weights fetch`
    are its own), and every --flag it names is in that --help."""
    commands = _python_commands(README)
    for args in commands:
        help_text = _help_text(args, monkeypatch, capsys)
        assert "usage:" in help_text.lower(), f"python {shlex.join(args)} --help: {help_text!r}"
        for flag in {word.split("=")[0] for word in args if word.startswith("--")}:
            named = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text)
            assert named, f"README: python {shlex.join(args)}: {flag} is not in its --help"
    modules = {args[1] if args[0] == "-m" else args[0] for args in commands}
    assert {"run_demo.py", "app.classify_video", "train.from_videos", "train.run"} <= modules
    assert len(commands) >= 25
