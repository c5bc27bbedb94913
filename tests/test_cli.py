"""The CLI writes one PNG per image, with the recipe embedded, and reports bad input without a traceback."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from robust_synth import task_registry
from robust_synth.__main__ import build_parser, main
from robust_synth.result_store import recipe_from_png

ROOT = Path(__file__).resolve().parent.parent


def check_outputs(out: Path, task: str, count: int, size: tuple[int, int], printed: str) -> dict:
    """count PNGs of `size` in out, each carrying recipe.json's recipe; stdout lists them, then the metrics JSON."""
    pngs = sorted(out.glob(f"{task}-*.png"))
    recipe = json.loads((out / "recipe.json").read_text())
    assert [path.name for path in pngs] == [f"{task}-{i:02d}.png" for i in range(count)]
    for path in pngs:
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == size and img.mode == "RGB"
        assert recipe_from_png(path) == recipe
    lines = printed.splitlines()
    assert lines[:-1] == [str(path) for path in pngs] and json.loads(lines[-1]) == recipe["metrics"]
    assert recipe["task"] == task
    return recipe


def test_generate_writes_pngs_with_embedded_recipe(tmp_path, capsys):
    """Catches PNGs of the wrong size or without the recipe, a recipe.json that differs, and a silent CLI."""
    rc = main(["generate", "--model", "cifar10-resnet-l2-0.5", "--target", "cat", "dog", "--n", "1", "--steps", "2",
               "--seed", "3", "--out", str(tmp_path)])
    assert rc == 0
    recipe = check_outputs(tmp_path, "generate", 2, (32, 32), capsys.readouterr().out)
    assert recipe["params"]["target"] == ["cat", "dog"] and recipe["params"]["steps"] == 2 and recipe["seed"] == 3
    assert recipe["model"] == "cifar10-resnet-l2-0.5" and recipe["metrics"]["steps_run"] == 2


def test_image_task_reads_files(tmp_path, capsys):
    image = tmp_path / "in.png"
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(image)
    rc = main(["super_resolve", "--model", "cifar10-resnet-standard", "--image", str(image), "--factor", "2",
               "--steps", "2", "--out", str(tmp_path / "out")])
    assert rc == 0
    recipe = check_outputs(tmp_path / "out", "super_resolve", 1, (32, 32), capsys.readouterr().out)
    assert recipe["model"] == "cifar10-resnet-standard" and recipe["params"]["factor"] == 2
    assert recipe["params"]["low_res_size"] == [16, 16] and recipe["output_size"] == [32, 32]


def test_style_transfer_end_to_end_through_python_dash_m(tmp_path):
    """`python -m robust_synth style_transfer` in a fresh process, as a user runs it: the output keeps the content's
    aspect ratio at --size on its long side, and carries its recipe."""
    content = tmp_path / "content.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(content)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "robust_synth", "style_transfer", "--content-image", str(content),
               "--style-image", str(ROOT / "examples" / "styles" / "mosaic.jpg"), "--size", "48", "--steps", "2",
               "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    recipe = check_outputs(out, "style_transfer", 1, (48, 32), done.stdout)
    assert recipe["model"] == task_registry.get("style_transfer").input("model").default  # the declared default
    assert recipe["params"]["size"] == 48
    assert recipe["params"]["steps"] == 2 and {"style_loss", "content_loss"} <= set(recipe["metrics"])


def test_bad_input_is_one_line_error(tmp_path, capsys):
    rc = main(["generate", "--model", "cifar10-resnet-l2-0.5", "--target", "kat", "--steps", "2",
               "--out", str(tmp_path)])
    assert rc == 2 and "did you mean 'cat'" in capsys.readouterr().err and not list(tmp_path.glob("*.png"))


REQUIRED = {  # task -> its required options
    "generate": ["--target", "cat"], "inpaint": ["--image", "a", "--mask", "b"], "super_resolve": ["--image", "a"],
    "translate": ["--image", "a", "--target", "cat"], "sketch_to_image": ["--image", "a", "--target", "cat"],
    "paint_features": ["--image", "a", "--mask", "b", "--feature", "1"], "invert": ["--image", "a"],
    "interpolate": ["--image-a", "a", "--image-b", "b"], "visualize_feature": ["--feature", "1"],
}


def test_every_task_has_a_subcommand_with_typed_options():
    parser = build_parser()
    for name, required in REQUIRED.items():
        assert name in task_registry.TASKS
        assert parser.parse_args([name, "--model", "m", "--out", "o", *required]).task == name
    args = parser.parse_args(["paint_features", "--model", "m", "--out", "o", "--image", "a", "--mask", "b",
                              "--feature", "7", "--eps", "2.5"])
    assert args.feature == 7 and args.eps == 2.5



def test_an_edit_is_written_at_full_size_with_the_model_resolution_one_beside_it(tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(image)
    rc = main(["translate", "--model", "cifar10-resnet-standard", "--image", str(image), "--target", "cat",
               "--steps", "1", "--out", str(tmp_path / "out")])
    assert rc == 0 and Image.open(tmp_path / "out" / "translate-00.png").size == (30, 20)
    assert Image.open(tmp_path / "out" / "model_resolution" / "translate-00.png").size == (32, 21)
