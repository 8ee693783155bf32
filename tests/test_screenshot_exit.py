"""run_demo.py --screenshot: a picture that cannot be saved is an error, not exit 0."""

from __future__ import annotations

from app.gui import launch


class _Image:
    def __init__(self, saves: bool) -> None:
        self.saves = saves

    def save(self, path: str, kind: str) -> bool:
        if self.saves:
            with open(path, "wb") as f:
                f.write(b"\x89PNG")
        return self.saves


class _Window:
    """What _finish uses of the main window."""

    def __init__(self, saves: bool) -> None:
        self.saves, self.closed = saves, False

    def isHidden(self) -> bool:  # noqa: N802 (Qt's naming)
        return self.closed

    def grab(self) -> _Image:
        return _Image(self.saves)

    def summary(self) -> str:
        return "frames shown: 3"

    def close(self) -> None:
        self.closed = True


def test_a_screenshot_that_cannot_be_encoded_sets_exit_status_1(tmp_path, capsys):
    outcome = {"status": 0}
    window = _Window(saves=False)
    launch._finish(window, tmp_path / "shot.png", outcome)
    captured = capsys.readouterr()
    assert outcome["status"] == 1 and window.closed
    assert captured.err.startswith("error: could not save the screenshot")
    assert captured.err.count("\n") == 1
    assert "frames shown" in captured.out and not (tmp_path / "shot.png").exists()


def test_a_saved_screenshot_keeps_exit_status_0(tmp_path):
    outcome = {"status": 0}
    launch._finish(_Window(saves=True), tmp_path / "shot.png", outcome)
    assert outcome["status"] == 0 and (tmp_path / "shot.png").read_bytes() == b"\x89PNG"


def test_an_unwritable_screenshot_path_is_refused_before_the_window_opens(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file")
    status = launch.main(["--screenshot", str(blocker / "shot.png"), "--quit-after", "1"])
    err = capsys.readouterr().err
    assert status == 1 and f"{blocker} is a file, not a folder" in err and err.count("\n") == 1
