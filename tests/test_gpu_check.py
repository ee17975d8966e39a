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
    for stage in ("profile", "gatys_profile"):
        operators = results[stage]["operators"]
        assert len(operators) == 12 and 0 < sum(row["share"] for row in operators) <= 1
        assert results[stage]["seconds_per_call"] > 0 and results[stage]["busy"] > 0
    assert "GPU check on" in (ROOT / "runs" / "gpu_check_cpu" / "gpu_check.md").read_text()
