"""What the committed notebooks hold: one parameters cell, executed outputs, no debris; papermill can parameterise each.

The notebooks themselves run once per test run, under nbval (`make notebooks`), followed by smoke_metrics.py.
"""

import dataclasses
import json
import re
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from stylelib.train import TrainConfig
from stylelib.viz import CONFIG_MIME

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_committed_with_outputs_and_one_parameters_cell():
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        assert notebook.metadata["kernelspec"]["name"] == "python3"
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name}: commit it executed top to bottom"
        assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), f"{path.name}: has errors"


# What a reader must never see in a committed output: a widget's text stand-in (papermill saves no widget
# state), a progress bar frozen at its first frame, a warning, or a path of the machine that ran it.
DEBRIS = {
    "a progress bar": re.compile(r"\d+%\|[^|\n]*\|"),
    "a widget's text repr": re.compile(r"\b(interactive|VBox|HBox)\((children=|\()"),
    "a machine path": re.compile(r"(/home/|/root/|/tmp/|/work/|site-packages|/Users/|[A-Z]:\\\\Users)"),
    "a warning": re.compile(r"\w+Warning\b|WARNING \|"),
}


def debris_in(notebook: nbformat.NotebookNode) -> list[str]:
    """Every piece of debris in a notebook's outputs, as 'cell N: what'."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")] + [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            if output.get("name") == "stderr":
                found.append(f"cell {index}: output on stderr")
            if "application/vnd.jupyter.widget-view+json" in output.get("data", {}):
                found.append(f"cell {index}: a widget view (saved without its state)")
            for what, pattern in DEBRIS.items():
                found += [f"cell {index}: {what}" for text in texts if pattern.search(text)]
    return found


def test_debris_rules_catch_each_kind():
    outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="x.py:1: FutureWarning: old"),
        nbformat.v4.new_output("display_data", data={"text/plain": "train:   0%|          | 0/240 [00:00<?, ?it/s]"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "interactive(children=(Dropdown("}),
        nbformat.v4.new_output("stream", name="stdout", text="saved to /home/ada/.cache/x.pth"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=outputs)])
    kinds = {entry.split(": ", 1)[1] for entry in debris_in(notebook)}
    assert kinds == {"output on stderr", "a warning", "a progress bar", "a widget's text repr", "a machine path"}
    clean = nbformat.v4.new_output("stream", name="stdout", text="style ratio 0.31 (100% of the steps)")
    assert debris_in(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[clean])])) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_free_of_debris(path):
    found = debris_in(nbformat.read(path, as_version=4))
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_injects_parameters_after_the_parameters_cell(path, tmp_path):
    prepared = papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters={"OUTPUT_DIR": "elsewhere", "SEED": 7}, prepare_only=True
    )
    tags = [cell.metadata.get("tags", []) for cell in prepared.cells]
    injected = tags.index(["injected-parameters"])
    assert "parameters" in tags[injected - 1]
    source = prepared.cells[injected].source
    assert 'OUTPUT_DIR = "elsewhere"' in source and "SEED = 7" in source


def test_the_canonical_failure_runs_are_diagnosed_as_intended():
    """Smoke runs are too short to fail as intended; the committed canonical run of notebook 07 is not."""
    notebook = nbformat.read(next(p for p in NOTEBOOKS if p.stem.startswith("07")), as_version=4)
    printed = [
        "".join(o.get("text", ""))
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if '"diagnoses"' in "".join(o.get("text", ""))
    ]
    assert len(printed) == 1, "notebook 07 should print its failure runs' diagnoses once"
    failures = json.loads(printed[0])
    assert set(failures) == {"discriminator wins", "mode collapse", "colour shift"}
    for intended, result in failures.items():
        assert intended in result["diagnoses"], f"the {intended!r} run was diagnosed as {result['diagnoses']}"


def recorded_configs(notebook: nbformat.NotebookNode) -> list[dict]:
    """The TrainConfigs (with the defaults of their day) that viz.show_config left in a notebook's outputs."""
    return [
        output["data"][CONFIG_MIME]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if CONFIG_MIME in output.get("data", {})
    ]


def stale_defaults(records: list[dict]) -> list[str]:
    """Fields a recorded run left at a default that TrainConfig no longer has, as 'run: field was X, now Y'."""
    today = dataclasses.asdict(TrainConfig())
    found = []
    for record in records:
        for field, value in record["config"].items():
            if value == record["defaults"].get(field) and field in today and today[field] != value:
                found.append(f"{record['name'] or 'a run'}: {field} was {value!r} by default, now {today[field]!r}")
    return found


def test_the_stale_default_check_catches_a_changed_default():
    config = dataclasses.asdict(TrainConfig())
    assert stale_defaults([{"name": "full", "config": config, "defaults": config}]) == []
    old = {**config, "style_size": 256}
    assert stale_defaults([{"name": "full", "config": old, "defaults": old}]) == [
        f"full: style_size was 256 by default, now {config['style_size']}"
    ]
    assert stale_defaults([{"name": "set", "config": {**old, "style_size": 384}, "defaults": old}]) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_training_runs_used_todays_defaults(path):
    notebook = nbformat.read(path, as_version=4)
    records = recorded_configs(notebook)
    trains = any("Trainer(" in cell.source or "run_sweep(" in cell.source for cell in notebook.cells)
    assert records or not trains, f"{path.name} trains but records no TrainConfig: call viz.show_config"
    stale = stale_defaults(records)
    assert not stale, f"{path.name} was run before TrainConfig's defaults changed; re-run it: " + "; ".join(stale)


def test_the_committed_notebooks_stay_small_enough_to_clone_quickly():
    total = sum(path.stat().st_size for path in NOTEBOOKS)
    assert total < 10e6, f"the notebooks weigh {total / 1e6:.1f} MB: show photographs as JPEG (viz.show_images)"


INSTALLER_END = "    sys.path.insert(0, str(checkout))  # this kernel started before the install\n"


def installer_source(path: Path) -> str:
    """The install-if-missing lines that open a notebook's first code cell."""
    first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert INSTALLER_END in first.source + "\n", (
        f"{path.name}: its first code cell must install the workbook if missing"
    )
    return first.source[: (first.source + "\n").index(INSTALLER_END) + len(INSTALLER_END)]


def test_every_notebook_opens_with_the_same_installer():
    assert len({installer_source(path) for path in NOTEBOOKS}) == 1


@pytest.fixture
def run_installer(monkeypatch):
    """Runs the installer as if stylelib were missing; returns the commands it would have run."""
    import importlib.util
    import subprocess

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "stylelib" else real_find_spec(name, *a)
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("STYLELIB_GIT", raising=False)
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))

    def run(cwd: Path) -> list[list[str]]:
        monkeypatch.chdir(cwd)
        exec(installer_source(NOTEBOOKS[0]), {})
        return commands

    return run


def test_the_installer_installs_the_checkout_the_notebook_sits_in(run_installer, tmp_path):
    (tmp_path / "workbook" / "stylelib").mkdir(parents=True)
    (tmp_path / "workbook" / "stylelib" / "__init__.py").write_text("")
    (tmp_path / "workbook" / "notebooks").mkdir()
    checkout = str((tmp_path / "workbook").resolve())
    assert run_installer(tmp_path / "workbook" / "notebooks") == [
        [sys.executable, "-m", "pip", "install", "--quiet", "-e", checkout]
    ]
    assert sys.path[0] == checkout


def test_the_installer_clones_from_stylelib_git_or_says_how(run_installer, tmp_path, monkeypatch):
    with pytest.raises(ModuleNotFoundError, match="STYLELIB_GIT"):
        run_installer(tmp_path)
    monkeypatch.setenv("STYLELIB_GIT", "https://example.org/workbook.git")
    clone = tmp_path.resolve() / "stylelib-workbook"
    commands = run_installer(tmp_path)
    assert commands[0] == ["git", "clone", "--depth", "1", "https://example.org/workbook.git", str(clone)]
    assert commands[1][-2:] == ["-e", str(clone)] and len(commands) == 2
    (clone / "stylelib").mkdir(parents=True)  # what the clone made; a second kernel installs it without cloning again
    (clone / "stylelib" / "__init__.py").write_text("")
    commands.clear()
    assert run_installer(tmp_path) == [[sys.executable, "-m", "pip", "install", "--quiet", "-e", str(clone)]]


def test_the_times_make_run_prints_are_the_times_the_notebooks_state(tmp_path):
    """tools/canonical_notebooks.py --times-from reads the lines the Makefile's run target echoes."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
    import canonical_notebooks

    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    echo = re.search(r'echo "( +)\$\$name took \$\$\(\(.*\)\) s"', makefile)
    assert echo, "the Makefile's run target no longer echoes '   NAME took N s'"
    log = tmp_path / "run.log"
    log.write_text(
        f"== 01_first\n{echo.group(1)}01_first took 7 s\n== 02_second\n{echo.group(1)}02_second took 130 s\n"
    )
    assert canonical_notebooks.times_in_run_log(log) == {"01_first": 7.0, "02_second": 130.0}
    stated = "*Run time at the default parameters: 1.0 min on X (measured 2026-01-01).*"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# 01\n\n{stated}")])
    canonical_notebooks.state_time(notebook, 130.0, "a 2-core CPU")
    assert notebook.cells[0].source.count("Run time") == 1 and "2.2 min on a 2-core CPU" in notebook.cells[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_states_its_run_time_once_in_its_first_cell(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    stated = re.findall(r"\*Run time at the default parameters: [\d.]+ min on [^*\n]+ \(measured [\d-]+\)\.\*", first)
    assert len(stated) == 1 and first.count("Run time") == 1, f"{path.name}: state the run time once, on its own line"
