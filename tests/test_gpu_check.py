"""The GPU check's CPU form runs in the test suite, so the script a GPU session relies on cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_gpu_check_cpu_form_measures_everything():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((ROOT / "runs" / "gpu_check_cpu" / "gpu_check.json").read_text())
    assert results["tests"]["passed"] and "skipped" in results["tests"]["summary"]
    assert results["training"]["images_per_second"] > 0 and results["loader_images_per_second"] > 0
    assert results["gatys"]["ours"] > 0 and results["gatys"]["pastiche"] > 0
    assert set(results["latency"]) == {"default/64x48", "lite/64x48"}
    assert len(results["profile"]) == 12 and 0 < sum(row["share"] for row in results["profile"]) <= 1
    assert "GPU check on" in (ROOT / "runs" / "gpu_check_cpu" / "gpu_check.md").read_text()
