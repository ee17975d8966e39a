import subprocess
import sys

import pytest

from stylelib.cli import main
from stylelib.images import load_image


def test_stylize_writes_the_image_and_reports(tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(
        [
            "stylize",
            "--content",
            "chelsea",
            "--style",
            "swirls",
            "--out",
            str(out),
            "--size",
            "48",
            "--steps",
            "3",
            "--precision",
            "fp32",
            "--quiet",
        ]
    )
    assert code == 0
    assert load_image(out).shape == (1, 3, 32, 48)
    printed = capsys.readouterr().out
    assert "final losses: content" in printed and "wall time" in printed


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "mine.png"
    out.write_bytes(b"precious")
    code = main(["stylize", "--content", "chelsea", "--style", "swirls", "--out", str(out), "--steps", "1"])
    assert code == 2 and out.read_bytes() == b"precious"
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--content", "nowhere.jpg", "--style", "swirls"], "no such file"),
        (["--content", "chelsea", "--style", "swirls", "--size", "8"], "--size"),
        (["--content", "chelsea", "--style", "swirls", "--style-weights", "1", "2"], "style weights"),
        (["--content", "chelsea", "--style", "swirls", "--device", "tpu"], "unknown device"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line_and_no_traceback(tmp_path, extra, message):
    command = [sys.executable, "-m", "stylelib", "stylize", "--out", str(tmp_path / "o.png"), "--steps", "1", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
