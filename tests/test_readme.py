"""The README's set-up and quick-start stay true: the CPU-only install pins the torch CI installs
from PyTorch's CPU index, and the quick-start writes only under its .gitignored folder."""

from __future__ import annotations

import re
import shlex

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


def test_every_link_within_the_readme_reaches_a_heading():
    """The table of contents' #anchors are headings' GitHub slugs (lower case, punctuation
    dropped, spaces to hyphens)."""
    headings = re.findall(r"^#+ (.+)$", README, re.MULTILINE)
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    anchors = re.findall(r"\]\(#([^)]+)\)", README)
    assert anchors and [a for a in anchors if a not in slugs] == []
