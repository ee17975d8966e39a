"""Re-run notebooks as their committed canonical runs: execute each in place at its defaults, clean its metadata,
state the measured run time in its first cell, and record the times in benchmarks/results/notebook_times.json.

    .venv/bin/python tools/canonical_notebooks.py notebooks/05_adversarial_training.ipynb ...

With --times-from LOG it executes nothing: it states the times a `make run` printed to LOG ("   NAME took N s")
in the first cells and the JSON instead, so a fresh clone's `make run` can supply the times.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import date
from pathlib import Path

import nbformat
import papermill

from stylelib.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "benchmarks" / "results" / "notebook_times.json"
# The line each notebook's first cell carries; re-running replaces it.
RUN_TIME_LINE = re.compile(r"\n*\*Run time at the default parameters:[^\n]*\*")
MAKE_RUN_TIME = re.compile(r"^ +(\S+) took (\d+) s$", re.MULTILINE)


def run_time_line(seconds: float, machine: str) -> str:
    """The first cell's statement of how long the notebook takes, and where that was measured."""
    return f"*Run time at the default parameters: {seconds / 60:.1f} min on {machine} (measured {date.today()}).*"


def execute(path: Path) -> float:
    """Run a notebook top to bottom in place, in its own folder; returns the wall time in seconds."""
    started = time.perf_counter()
    papermill.execute_notebook(str(path), str(path), cwd=str(path.parent), kernel_name="python3", progress_bar=False)
    return time.perf_counter() - started


def state_time(notebook: nbformat.NotebookNode, seconds: float, machine: str) -> None:
    """Replace the run-time line of the notebook's first cell."""
    first = notebook.cells[0]
    first.source = RUN_TIME_LINE.sub("", first.source).rstrip() + "\n\n" + run_time_line(seconds, machine)


def times_in_run_log(log: Path) -> dict[str, float]:
    """The seconds per notebook that `make run` printed, by notebook name."""
    return {name: float(seconds) for name, seconds in MAKE_RUN_TIME.findall(log.read_text())}


def record_time(name: str, seconds: float, machine: str) -> None:
    """Add or replace one notebook's time in benchmarks/results/notebook_times.json."""
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    times[name] = {"seconds": round(seconds, 1), "machine": machine, "date": str(date.today())}
    TIMES.write_text(json.dumps(dict(sorted(times.items())), indent=2) + "\n")


def state_logged_times(log: Path, notebooks: list[Path], machine: str) -> None:
    """State the times a `make run` printed to `log` in each notebook's first cell and in the JSON."""
    logged = times_in_run_log(log)
    missing = [path.stem for path in notebooks if path.stem not in logged]
    if missing:
        raise SystemExit(f"{log} has no time for {', '.join(missing)}: did its `make run` finish?")
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        state_time(notebook, logged[path.stem], machine)
        nbformat.write(notebook, path)
        record_time(path.stem, logged[path.stem], machine)


def clean(path: Path, seconds: float, machine: str) -> None:
    """Drop papermill's metadata, number the cells 1, 2, ... and state the run time in the first cell."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata = nbformat.NotebookNode(
        kernelspec={"display_name": "Python 3", "language": "python", "name": "python3"},
        language_info={"name": "python"},
    )
    count = 0
    for cell in notebook.cells:
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
    state_time(notebook, seconds, machine)
    nbformat.write(notebook, path)


def main() -> None:
    """Run the notebooks given, one after the other, and record their times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--times-from", type=Path, help="a `make run` log: state its times, execute nothing")
    args = parser.parse_args()
    runtime = make_runtime()
    machine = str(runtime).split(" on ", 1)[1] + f", {runtime.precision}"
    if args.times_from:
        state_logged_times(args.times_from, args.notebooks, machine)
        return
    failed = []
    for path in args.notebooks:
        try:
            seconds = execute(path.resolve())
        except papermill.PapermillExecutionError as error:  # the notebook keeps its traceback; go on with the rest
            print(f"{path.stem}: failed in cell {error.exec_count}: {error.ename}: {error.evalue}", flush=True)
            failed.append(path.stem)
            continue
        clean(path.resolve(), seconds, machine)
        record_time(path.stem, seconds, machine)
        print(f"{path.stem}: {seconds:.0f} s on {machine}", flush=True)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
