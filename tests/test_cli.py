import json
import subprocess
import sys

import pytest
import torch

from stylelib import teachers
from stylelib.cli import main
from stylelib.images import load_image, rgb_to_ycbcr, save_image
from stylelib.inference import compile_generator, export_generator, fix_style, load_exported, load_generator
from stylelib.models import Generator
from stylelib.runtime import make_runtime
from stylelib.train import CONFIG, TrainConfig


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


def _train_tiny(run_dir, *extra):
    args = [
        "train",
        "--out",
        str(run_dir),
        "--style",
        "woodcut",
        "--generator",
        "lite",
        "--size",
        "32",
        "--style-size",
        "64",
    ]
    args += ["--steps", "3", "--warmup-steps", "1", "--batch-size", "1", "--precision", "fp32", "--quiet", *extra]
    return main(args)


def test_train_then_stylize_a_file_and_a_folder_then_export(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train_tiny(run) == 0
    assert "done: step 3" in capsys.readouterr().out
    assert _train_tiny(run) == 2 and "already holds a run" in capsys.readouterr().err
    resume = ["train", "--out", str(run), "--resume", "--steps", "4", "--quiet"]
    assert main([*resume, "--style-weight", "3", "--style", "hokusai"]) == 2
    assert "not --style-weight, --style" in capsys.readouterr().err  # refused, not silently ignored
    assert main(resume) == 0
    assert "from step 3 to 4" in capsys.readouterr().out

    out = tmp_path / "one.png"
    assert main(["stylize", "--checkpoint", str(run), "--content", "chelsea", "--out", str(out), "--size", "50"]) == 0
    assert load_image(out).shape == (1, 3, 33, 50)

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        save_image(load_image(out), photos / name)
    styled = tmp_path / "styled"
    assert main(["stylize", "--checkpoint", str(run), "--content", str(photos), "--out", str(styled), "--compile"]) == 0
    assert sorted(str(p.relative_to(styled)) for p in styled.rglob("*.png")) == ["a.png", "sub/b.png"]
    capsys.readouterr()
    assert main(["stylize", "--checkpoint", str(run), "--content", str(photos), "--out", str(styled)]) == 0
    assert "saved 0 images" in (out_text := capsys.readouterr().out) and "2 outputs were already there" in out_text

    exported = tmp_path / "g.pt"
    assert main(["export", "--checkpoint", str(run), "--out", str(exported)]) == 0
    scripted = load_exported(exported)
    photo = load_image(out)
    assert torch.allclose(scripted(photo), load_generator(run)(photo), atol=1e-5)


def test_train_takes_a_painting_by_name_a_style_strength_and_distillation(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--style", "hokusai", "--style-strength", "2.5", "--generator", "lite"]
    args += ["--size", "32", "--steps", "1", "--warmup-steps", "1", "--batch-size", "1", "--precision", "fp32"]
    monkeypatch.setattr(teachers, "TEACHER_STEPS", 2)
    assert main([*args, "--distill-weight", "0.5", "--quiet"]) == 0
    config = TrainConfig.load(run / CONFIG)
    assert config.styles == ["hokusai"] and config.style_strength == 2.5 and config.distill_weight == 0.5
    assert len(list((run / "teachers").glob("*.png"))) == 4  # one Gatys output per bundled training photo
    assert main([*args, "--out", str(tmp_path / "bad"), "--style-strength", "-1"]) == 2
    assert "style_strength" in capsys.readouterr().err


def test_stylize_checkpoint_errors_are_one_line(tmp_path, capsys):
    assert main(["stylize", "--checkpoint", str(tmp_path), "--content", "chelsea", "--out", "x.png"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["stylize", "--content", "chelsea", "--out", str(tmp_path / "x.png")]) == 2
    assert "give --style" in capsys.readouterr().err


def test_onnx_export_without_the_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ValueError, match="pip install onnx"):
        export_generator(Generator.from_name("lite"), tmp_path / "g.onnx", "onnx")


def test_a_compiled_generator_gives_the_eager_outputs(monkeypatch):
    generator = Generator(width=4, blocks=1).eval()
    runtime = make_runtime("cpu", "fp32")
    photo = torch.rand(1, 3, 24, 40).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.allclose(compile_generator(generator, runtime)(photo), generator(photo), atol=1e-5)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="C\\+\\+ compiler"):
        compile_generator(generator, runtime)


def test_a_multi_style_run_stylises_each_style_a_mix_and_regions_and_exports_a_mix(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train_tiny(run, "--style", "swirls", "--multi-style") == 0
    generator = load_generator(run)
    assert generator.styles == 2 and TrainConfig.load(run / CONFIG).styles == ["woodcut", "swirls"]
    save_image(load_image("data/paintings/picabia_udnie.jpg", max_side=48), tmp_path / "photo.png")
    photo = load_image(tmp_path / "photo.png")  # what stylize reads, after PNG rounding
    stylize = ["stylize", "--checkpoint", str(run), "--content", str(tmp_path / "photo.png"), "--size", "48"]
    stylize += ["--precision", "fp32"]
    for weights in (["0", "1"], ["0.5", "0.5"]):
        out = tmp_path / f"mix_{'_'.join(weights)}.png"
        assert main([*stylize, "--out", str(out), "--style-weights", *weights]) == 0
        expected = fix_style(generator, [float(w) for w in weights])(photo)
        assert (load_image(out) - expected).abs().max() < 2 / 255  # PNG rounding
    assert main([*stylize, "--out", str(tmp_path / "bad.png"), "--style-weights", "1", "0", "0"]) == 2
    assert "need 2 values" in capsys.readouterr().err
    assert main([*stylize, "--out", str(tmp_path / "regions.png"), "--mask", "auto:2"]) == 0
    assert load_image(tmp_path / "regions.png").shape == photo.shape
    exported = tmp_path / "mix.pt"
    assert main(["export", "--checkpoint", str(run), "--out", str(exported), "--style-weights", "0.5", "0.5"]) == 0
    assert torch.allclose(load_exported(exported)(photo), fix_style(generator, [0.5, 0.5])(photo), atol=1e-5)
    extended = tmp_path / "extended"
    assert (
        main(
            ["train", "--out", str(extended), "--extend", str(run), "--style", "pointillism", "--steps", "2", "--quiet"]
        )
        == 0
    )
    assert load_generator(extended).styles == 3
    assert TrainConfig.load(extended / CONFIG).styles == ["woodcut", "swirls", "pointillism"]


def test_train_preserve_color_gives_a_generator_that_keeps_the_photos_colours(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train_tiny(run, "--preserve-color") == 0 and TrainConfig.load(run / CONFIG).preserve_color
    save_image(load_image("data/paintings/picabia_udnie.jpg", max_side=48), tmp_path / "photo.png")
    photo = load_image(tmp_path / "photo.png")
    out = tmp_path / "kept.png"
    stylize = ["stylize", "--checkpoint", str(run), "--content", str(tmp_path / "photo.png"), "--size", "48"]
    assert main([*stylize, "--out", str(out)]) == 0
    kept = load_image(out)
    inside = ((kept > 0.02) & (kept < 0.98)).all(1, keepdim=True).expand(-1, 2, -1, -1)
    chroma_error = (rgb_to_ycbcr(kept)[:, 1:] - rgb_to_ycbcr(photo)[:, 1:]).abs().masked_select(inside)
    assert chroma_error.max() < 4 / 255  # PNG rounding of both images
    resume = ["train", "--out", str(run), "--resume", "--steps", "4", "--preserve-color", "--quiet"]
    assert main(resume) == 2 and "--preserve-color" in capsys.readouterr().err


def test_contrast_flags_reach_the_run_and_a_run_from_before_style_scale_extends_as_trained(tmp_path, capsys):
    run = tmp_path / "run"
    flags = ["--contrast-aware", "--contrast-jitter", "0.5", "1.5"]
    assert _train_tiny(run, "--style", "swirls", "--multi-style", *flags) == 0
    config = TrainConfig.load(run / CONFIG)
    assert config.contrast_aware and config.contrast_jitter == [0.5, 1.5] and load_generator(run).contrast_aware
    resume = ["train", "--out", str(run), "--resume", "--steps", "4", "--contrast-aware", "--quiet"]
    assert main(resume) == 2 and "--contrast-aware" in capsys.readouterr().err
    saved = json.loads((run / CONFIG).read_text())
    del saved["style_scale"]  # as written before paintings were sized by area
    (run / CONFIG).write_text(json.dumps(saved))
    extended = tmp_path / "extended"
    extend = ["train", "--out", str(extended), "--extend", str(run), "--style", "pointillism", "--steps", "2"]
    assert main([*extend, "--quiet"]) == 0
    assert TrainConfig.load(extended / CONFIG).style_scale == "long_side"
    assert load_generator(extended).styles == 3 and load_generator(extended).contrast_aware


def test_compile_reaches_the_training_networks_and_may_change_on_resume(tmp_path, monkeypatch):
    compiled = []
    monkeypatch.setattr("torch.compile", lambda module, **_: compiled.append(module) or module)
    run = tmp_path / "run"
    assert _train_tiny(run, "--compile") == 0
    assert TrainConfig.load(run / CONFIG).compile and len(compiled) == 3  # generator, discriminator, loss network
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", "--quiet"]) == 0
    assert len(compiled) == 6  # the saved config compiles again
    assert main(["train", "--out", str(run), "--resume", "--steps", "5", "--no-compile", "--quiet"]) == 0
    assert len(compiled) == 6
