"""What REST requests add for guided colour (colorgan.pipeline.guidance): the `hints` field,
the `reference` file field, suggested colours at a point. Bad values are 422s naming the
value (a reference over the size or pixel limits: 413, like the photo); the hints and the
reference's size and type are checked as soon as the upload is in, before a work slot is
taken; the point against the photo and the reference's pixels in the worker thread."""

from __future__ import annotations

from typing import BinaryIO

from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from colorgan.core.errors import ColorganError
from colorgan.io import images
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.guidance import (
    MAX_HINTS_BYTES,
    REFERENCE_SIDE,
    Guide,
    Hint,
    hints_from_json,
)

HINTS_HELP = (
    'a JSON list of {"x", "y", "color", "size"}: x, y in the photo\'s own pixels (0-based, '
    'y down), color "#rrggbb", size the patch side in working-size pixels (1-64, default 3)'
)
NOT_GUIDED = (
    "this model takes no hints or reference (it was trained without guidance); "
    'serve a guided model (GET /api/health says "guided")'
)
NO_SUGGESTIONS = (
    "suggested colours need a model with a distribution head; this one predicts one colour "
    "per pixel (GET /api/health says the model's head)"
)

FORM_FIELDS = {
    "image": {"type": "string", "format": "binary", "description": "a photo"},
    "hints": {
        "type": "string",
        "description": HINTS_HELP + " (guided models)",
        "example": '[{"x": 120, "y": 80, "color": "#2e7d32", "size": 3}]',
    },
    "reference": {
        "type": "string",
        "format": "binary",
        "description": "a photo whose colours to follow (guided models); any image the "
        "tool reads, up to the same size and pixel limits as the photo",
    },
}


def form_body(description: str) -> dict:
    """The OpenAPI requestBody of an endpoint taking the photo, hints and reference."""
    schema = {"type": "object", "required": ["image"], "properties": FORM_FIELDS}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


class Suggestion(BaseModel):
    color: str = Field(
        description='"#rrggbb", at the photo\'s own lightness there', examples=["#7a5c3e"]
    )
    p: float = Field(description="the model's probability of this colour there (0-1)", ge=0, le=1)


async def hints_field(form: FormData) -> tuple[Hint, ...]:
    """The `hints` field (a text field, or a file part: curl -F hints=@hints.json) ->
    checked hints; none when absent or empty."""
    value = form.get("hints")
    if isinstance(value, UploadFile):
        if (value.size or 0) > MAX_HINTS_BYTES:
            raise HTTPException(422, f"hints: over {MAX_HINTS_BYTES // 1024} KiB")
        value = await value.read()
    if value is None or not value.strip():
        return ()
    try:
        return hints_from_json(value, "hints")
    except ColorganError as exc:
        raise HTTPException(422, f"{exc}; {HINTS_HELP}") from None


def check_model(colorizer: Colorizer, hints, reference) -> None:
    if (hints or reference is not None) and not colorizer.guided:
        raise HTTPException(422, NOT_GUIDED)


def make_guide(colorizer, hints, reference: BinaryIO | None, label: str, max_pixels: int):
    """The Guide of a request (in the worker: decoding the reference blocks), or None.
    The reference is decoded like Colorizer.guide decodes a path (reduced JPEG scale, then
    REFERENCE_SIDE), within the server's pixel budget."""
    if not hints and reference is None:
        return None
    image = None
    if reference is not None:
        reference.seek(0)
        try:
            image = images.open_rgb(reference, REFERENCE_SIDE, max_pixels, name=label)
        except ColorganError as exc:
            code = 413 if isinstance(exc, images.ImageTooLarge) else 422
            raise HTTPException(code, str(exc)) from None
    try:
        return colorizer.guide(hints, image)
    except ColorganError as exc:
        raise HTTPException(422, str(exc)) from None


def suggestions(colorizer: Colorizer, photo, x: float, y: float, k: int, guide: Guide | None):
    """[{"color": "#rrggbb", "p": probability}] most likely first (Colorizer.suggest)."""
    found = colorizer.suggest(photo, x, y, k, guide=guide)
    return [{"color": color, "p": round(float(p), 4)} for color, p in found]
