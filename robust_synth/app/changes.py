"""What a run changed, made visible: the class probability before -> after, and the change amplified as an image."""
import numpy as np
from PIL import Image, ImageOps

from ..image import fit_within, load_image

VISIBLE_CHANGE = 0.25  # amplified, the largest changes (99th percentile) move this far from mid-grey (0 to 1 scale)
MAX_AMPLIFICATION = 100


def amplification(*changes: np.ndarray) -> int:
    """One whole factor for all of `changes` (signed, 0..1 scale) so that the largest shows clearly, at least 1."""
    largest = max(float(np.percentile(np.abs(change), 99)) for change in changes)
    return int(np.clip(VISIBLE_CHANGE / max(largest, 1e-6), 1, MAX_AMPLIFICATION))


def change(before, after) -> np.ndarray:
    """after - before as floats in -1..1, `before` (any accepted image) brought to after's size first."""
    after, before = load_image(after), load_image(before)
    if before.size != after.size:  # scaled down by the app (values.prepared_picture): the same way again
        scaled = fit_within(before, max(after.size))
        before = scaled if scaled.size == after.size else ImageOps.fit(before, after.size, Image.Resampling.BICUBIC)
    return (np.asarray(after, np.float32) - np.asarray(before, np.float32)) / 255


def difference_image(delta: np.ndarray, factor: int) -> Image.Image:
    """A signed change as an image: mid-grey where nothing changed, brighter / darker by factor × the change."""
    return Image.fromarray(np.clip(np.round(127.5 + 255 * factor * delta), 0, 255).astype(np.uint8))


def differences(image, results: dict) -> list[tuple[Image.Image, str]]:
    """The input `image` against each result ({label: result image}, e.g. robust and standard), amplified by one
    factor for all so that they compare, each captioned with its label and the factor."""
    if image is None or not results:
        return []
    deltas = {label: change(image, result) for label, result in results.items()}
    factor = amplification(*deltas.values())
    return [(difference_image(delta, factor), f"{label}: change ×{factor}") for label, delta in deltas.items()]


def sides(recipe: dict, named: bool = True) -> list[tuple[str, dict]]:
    """(label, recipe) of the run and, if compared, of the standard run: labelled robust and standard (followed by
    the model's name if `named`) when compared, else by the model's name alone."""
    standard = (recipe or {}).get("comparison")
    if not standard:
        return [(recipe.get("model", ""), recipe)] if recipe else []
    return [(f"robust {recipe['model']}" if named else "robust", recipe),
            (f"standard {standard['model']}" if named else "standard", standard)]


def probability_note(recipe: dict) -> str:
    """"Probability of <class>, before → after: robust <model> 41.2% → 87.3%; standard ..." for a run whose
    metrics hold the probability before and after (refine), else ""."""
    parts = [f"{label} {r['metrics']['prob_before']:.1%} → {r['metrics']['prob_after']:.1%}"
             for label, r in sides(recipe) if {"prob_before", "prob_after"} <= set(r.get("metrics", {}))]
    if not parts:
        return ""
    return f"**Probability of {recipe['params'].get('target')}**, before → after: " + "; ".join(parts) + "."
