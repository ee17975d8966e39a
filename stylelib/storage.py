"""Writing files safely: atomic writes, and checkpoints that load with torch.load(weights_only=True).

A file is written to a temporary name in its folder and renamed over the target, so a crash or
Ctrl-C never leaves half a file. Checkpoints hold only tensors, numbers, strings, lists and dicts,
so they load with `weights_only=True`: loading one never runs code from the file. Random states
are stored in that form too (NumPy's and Python's included), with every CUDA device's state.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.jsonl"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call write(temporary path) in the target's folder, flush it to disk, then rename it over `path`.

    The temporary file keeps the target's suffix, which some writers (torch.save, PIL) look at. After
    a crash the target holds either its old or its new content, never a mix or an empty file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=target.suffix)
    os.close(handle)
    # mkstemp makes the file private (0600); give it the permissions the target has, or a new file would get.
    mode = target.stat().st_mode & 0o777 if target.exists() else _new_file_mode()
    try:
        write(temporary)
        os.chmod(temporary, mode)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _new_file_mode() -> int:
    """The permissions open() gives a new file in this process: 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def random_states() -> dict:
    """The states of torch (CPU and every CUDA device), NumPy and Python's random, as plain data."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": position, "gauss": [has_gauss, cached]},
        "python": {"version": version, "state": list(python_state), "gauss": gauss},
    }


def restore_random_states(states: dict) -> None:
    """Restore what random_states() saved; CUDA states only where the same number of GPUs is present."""
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])
    numpy = states["numpy"]
    has_gauss, cached = numpy["gauss"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["position"], has_gauss, cached))
    python = states["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write a checkpoint dict atomically."""
    return atomic_write(path, lambda temporary: torch.save(state, temporary))


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """Read a checkpoint without running code from it, its tensors mapped onto `device`."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises several types for a foreign or damaged file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"'{path}' is not a readable stylelib checkpoint ({reason})", details=str(error)) from error
