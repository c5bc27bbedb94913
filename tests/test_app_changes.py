"""What a run changed, as the page shows it: the probabilities before -> after and the amplified difference image."""
import numpy as np
from PIL import Image

from robust_synth.app.changes import amplification, differences, probability_note

GREY = np.full((40, 48, 3), 128, np.uint8)


def _changed(by: int) -> Image.Image:
    """GREY with a 20x24 patch brighter by `by` levels (a quarter of the pixels)."""
    pixels = GREY.copy()
    pixels[10:30, 12:36] += np.uint8(by)
    return Image.fromarray(pixels)


def test_a_small_change_is_amplified_into_view_and_captioned_with_the_factor():
    """Catches a difference image that is flat grey for a 2/255 change (refine's typical size), a factor missing from
    the caption, and a change shown where nothing changed."""
    [(image, caption)] = differences(Image.fromarray(GREY), {"robust m": _changed(2)})
    factor = amplification(np.full(10, 2 / 255))
    assert factor == 31 and caption == f"robust m: change ×{factor}"
    shown = np.asarray(image, np.int16)
    assert shown[10:30, 12:36].min() >= 128 + 60 and np.abs(shown[:10] - 128).max() <= 1


def test_robust_and_standard_changes_share_one_factor_so_that_they_compare():
    shown = differences(Image.fromarray(GREY), {"robust": _changed(2), "standard": _changed(8)})
    assert [caption for _, caption in shown] == ["robust: change ×7", "standard: change ×7"]
    robust, standard = (np.asarray(image, np.int16)[20, 20, 0] - 128 for image, _ in shown)
    assert 3.5 < standard / robust < 4.5, "the two changes are not on one scale"


def test_a_result_of_another_size_is_compared_with_the_input_brought_to_its_size():
    [(image, _)] = differences(Image.fromarray(GREY).resize((96, 80)), {"m": _changed(4)})
    assert image.size == (48, 40)


def test_the_probability_note_names_the_class_and_both_models_before_and_after():
    recipe = {"model": "robust-m", "params": {"target": "cat"}, "metrics": {"prob_before": 0.4, "prob_after": 0.875},
              "comparison": {"model": "standard-m", "metrics": {"prob_before": 0.41, "prob_after": 0.99}}}
    assert probability_note(recipe) == ("**Probability of cat**, before → after: robust robust-m 40.0% → 87.5%; "
                                        "standard standard-m 41.0% → 99.0%.")
    alone = {k: v for k, v in recipe.items() if k != "comparison"}
    assert probability_note(alone) == "**Probability of cat**, before → after: robust-m 40.0% → 87.5%."
    assert probability_note({"model": "m", "metrics": {"target_prob": 0.5}}) == ""
