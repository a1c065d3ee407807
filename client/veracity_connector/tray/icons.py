"""The tray icon for each connector state, drawn with Pillow.

Each state has its own silhouette AND its own white glyph, so the states stay apart without
colour (colour-blind people, monochrome tray themes): circle = working (check: syncing, dots:
pairing, pause: waiting for IBKR to come back by itself), rounded square = needs a token (key;
struck through when revoked), triangle = log in at the gateway (!), diamond = gateway not
running (bar), hexagon = Veracity unreachable (arrow held above a bar: snapshots wait in the
outbox), octagon = error (X).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageDraw

from veracity_connector.state import ConnectorState

# Drawn large and scaled down: Pillow's primitives have no anti-aliasing of their own.
_CANVAS = 256
_WHITE = (255, 255, 255, 255)
_OUTLINE = (30, 30, 30, 255)


@dataclass(frozen=True)
class IconStyle:
    """How one state looks: outer shape, fill colour, inner glyph."""

    shape: str
    colour: tuple[int, int, int]
    glyph: str


STYLES: dict[ConnectorState, IconStyle] = {
    ConnectorState.SYNCING: IconStyle("circle", (46, 157, 74), "check"),
    ConnectorState.PAIRING: IconStyle("circle", (47, 111, 214), "dots"),
    ConnectorState.NEEDS_TOKEN: IconStyle("square", (107, 79, 187), "key"),
    ConnectorState.REVOKED: IconStyle("square", (198, 40, 40), "key_struck"),
    ConnectorState.GATEWAY_UNAUTHENTICATED: IconStyle("triangle", (230, 150, 0), "exclamation"),
    ConnectorState.GATEWAY_UNREACHABLE: IconStyle("diamond", (110, 110, 110), "bar"),
    ConnectorState.GATEWAY_WAITING: IconStyle("circle", (140, 120, 40), "pause"),
    ConnectorState.VERACITY_UNREACHABLE: IconStyle("hexagon", (0, 120, 140), "outbox"),
    ConnectorState.ERROR: IconStyle("octagon", (150, 20, 20), "cross"),
}


def _polygon(sides: int, rotation_deg: float, radius: float) -> list[tuple[float, float]]:
    centre = _CANVAS / 2
    return [(centre + radius * math.cos(math.radians(rotation_deg + 360 * i / sides)),
             centre + radius * math.sin(math.radians(rotation_deg + 360 * i / sides)))
            for i in range(sides)]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, colour: tuple[int, int, int]) -> None:
    fill = (*colour, 255)
    margin, width = 8, 10
    box = (margin, margin, _CANVAS - margin, _CANVAS - margin)
    if shape == "circle":
        draw.ellipse(box, fill=fill, outline=_OUTLINE, width=width)
    elif shape == "square":
        draw.rounded_rectangle(box, radius=40, fill=fill, outline=_OUTLINE, width=width)
    elif shape == "triangle":
        points = [(_CANVAS / 2, margin), (_CANVAS - margin, _CANVAS - margin - 14),
                  (margin, _CANVAS - margin - 14)]
        draw.polygon(points, fill=fill, outline=_OUTLINE, width=width)
    elif shape == "diamond":
        draw.polygon(_polygon(4, -90, _CANVAS / 2 - margin), fill=fill, outline=_OUTLINE,
                     width=width)
    elif shape == "hexagon":
        draw.polygon(_polygon(6, 0, _CANVAS / 2 - margin), fill=fill, outline=_OUTLINE,
                     width=width)
    elif shape == "octagon":
        draw.polygon(_polygon(8, 22.5, _CANVAS / 2 - margin), fill=fill, outline=_OUTLINE,
                     width=width)
    else:
        raise ValueError(f"unknown icon shape {shape!r}")


def _draw_key(draw: ImageDraw.ImageDraw) -> None:
    draw.ellipse((52, 92, 124, 164), outline=_WHITE, width=20)  # the bow
    draw.rectangle((118, 118, 206, 138), fill=_WHITE)  # the shaft
    draw.rectangle((168, 138, 184, 168), fill=_WHITE)  # the bits
    draw.rectangle((190, 138, 206, 160), fill=_WHITE)


def _draw_glyph(draw: ImageDraw.ImageDraw, glyph: str) -> None:
    if glyph == "check":
        draw.line([(70, 132), (112, 174), (188, 90)], fill=_WHITE, width=28, joint="curve")
    elif glyph == "dots":
        for x in (78, 128, 178):
            draw.ellipse((x - 18, 110, x + 18, 146), fill=_WHITE)
    elif glyph == "key":
        _draw_key(draw)
    elif glyph == "key_struck":
        _draw_key(draw)
        draw.line([(56, 56), (200, 200)], fill=_WHITE, width=20)
    elif glyph == "exclamation":
        draw.rounded_rectangle((114, 78, 142, 170), radius=10, fill=_WHITE)
        draw.ellipse((112, 184, 144, 216), fill=_WHITE)
    elif glyph == "bar":
        draw.rectangle((64, 116, 192, 140), fill=_WHITE)
    elif glyph == "outbox":
        draw.polygon([(128, 56), (176, 112), (144, 112), (144, 150), (112, 150), (112, 112),
                      (80, 112)], fill=_WHITE)
        draw.rectangle((72, 172, 184, 192), fill=_WHITE)
    elif glyph == "pause":
        draw.rounded_rectangle((82, 72, 114, 184), radius=8, fill=_WHITE)
        draw.rounded_rectangle((142, 72, 174, 184), radius=8, fill=_WHITE)
    elif glyph == "cross":
        draw.line([(82, 82), (174, 174)], fill=_WHITE, width=28)
        draw.line([(174, 82), (82, 174)], fill=_WHITE, width=28)
    else:
        raise ValueError(f"unknown icon glyph {glyph!r}")


@cache
def icon_for_state(state: ConnectorState, size: int = 64) -> Image.Image:
    """The RGBA tray image for `state`, `size` pixels square (cached: images are immutable)."""
    style = STYLES.get(state, STYLES[ConnectorState.ERROR])
    image = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    _draw_shape(draw, style.shape, style.colour)
    _draw_glyph(draw, style.glyph)
    return image.resize((size, size), Image.Resampling.LANCZOS)
