"""The CLI writes one PNG per image, with the recipe embedded, and reports bad input without a traceback."""
import json

import numpy as np
from PIL import Image

from robust_synth.__main__ import TASKS, build_parser, main
from robust_synth.results import recipe_from_png


def test_generate_writes_pngs_with_embedded_recipe(tmp_path, capsys):
    rc = main(["generate", "--model", "cifar10-resnet-l2-0.5", "--target", "cat", "dog", "--n", "1", "--steps", "2",
               "--seed", "3", "--out", str(tmp_path)])
    assert rc == 0
    pngs = sorted(tmp_path.glob("generate-*.png"))
    assert len(pngs) == 2 and Image.open(pngs[0]).size == (32, 32)
    recipe = recipe_from_png(pngs[0])
    assert recipe["params"]["target"] == ["cat", "dog"] and recipe["params"]["steps"] == 2 and recipe["seed"] == 3
    assert json.loads((tmp_path / "recipe.json").read_text()) == recipe


def test_image_task_reads_files(tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.full((20, 20, 3), 120, np.uint8)).save(image)
    rc = main(["super_resolve", "--model", "cifar10-resnet-standard", "--image", str(image), "--factor", "2",
               "--steps", "2", "--out", str(tmp_path / "out")])
    assert rc == 0 and len(list((tmp_path / "out").glob("super_resolve-*.png"))) == 1


def test_bad_input_is_one_line_error(tmp_path, capsys):
    rc = main(["generate", "--model", "cifar10-resnet-l2-0.5", "--target", "kat", "--steps", "2", "--out", str(tmp_path)])
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
        assert name in TASKS and parser.parse_args([name, "--model", "m", "--out", "o", *required]).task == name
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
