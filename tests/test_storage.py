import random
from pathlib import Path

import numpy as np
import pytest
import torch

from stylelib.storage import atomic_write, load_checkpoint, random_states, restore_random_states, save_checkpoint


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    save_checkpoint({"rng": random_states()}, tmp_path / "state.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_random_states(load_checkpoint(tmp_path / "state.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    torch.load(tmp_path / "state.pt", weights_only=True)  # plain data only: nothing in it can run code


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"payload": object()}, path)
    with pytest.raises(ValueError, match="not a readable stylelib checkpoint"):
        load_checkpoint(path)


def test_atomic_write_leaves_nothing_behind_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("kept")

    def fail(temporary):
        open(temporary, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "kept" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_gives_a_new_file_the_usual_permissions_and_keeps_an_existing_files(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("made by open()")
    new = atomic_write(tmp_path / "new.txt", lambda temporary: Path(temporary).write_text("new"))
    assert new.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    shared = tmp_path / "shared.txt"
    shared.write_text("old")
    shared.chmod(0o640)
    atomic_write(shared, lambda temporary: Path(temporary).write_text("new"))
    assert shared.stat().st_mode & 0o777 == 0o640 and shared.read_text() == "new"
