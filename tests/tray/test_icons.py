"""Every state has its own icon, told apart by shape and glyph even without colour."""

from __future__ import annotations

import itertools

import pytest
from PIL import Image, ImageChops, ImageStat

from veracity_connector.state import ConnectorState
from veracity_connector.tray.icons import STYLES, icon_for_state


def grey(image: Image.Image) -> Image.Image:
    """The icon as a colour-blind person or a monochrome theme shows it: luminance on white."""
    backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(backdrop, image).convert("L")


def difference(first: Image.Image, second: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(first, second)).mean[0]


def test_every_state_has_its_own_style() -> None:
    assert set(STYLES) == set(ConnectorState)
    pairs = {(style.shape, style.glyph) for style in STYLES.values()}
    assert len(pairs) == len(ConnectorState)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_icons_are_rgba_squares_of_the_asked_size(size: int) -> None:
    image = icon_for_state(ConnectorState.SYNCING, size)
    assert image.mode == "RGBA"
    assert image.size == (size, size)
    corner = image.getpixel((0, 0))
    # A transparent corner: the shape itself, not a square tile.
    assert isinstance(corner, tuple) and corner[3] == 0


@pytest.mark.parametrize(("first", "second"),
                         list(itertools.combinations(list(ConnectorState), 2)))
def test_states_differ_in_greyscale_at_tray_size(first: ConnectorState,
                                                 second: ConnectorState) -> None:
    # 16 px is the smallest tray (Windows at 100 % scaling).
    assert difference(grey(icon_for_state(first, 16)), grey(icon_for_state(second, 16))) > 8


def test_same_shape_states_differ_by_glyph() -> None:
    syncing, pairing = icon_for_state(ConnectorState.SYNCING), icon_for_state(
        ConnectorState.PAIRING)
    assert syncing.getchannel("A") == pairing.getchannel("A")  # same circle
    assert difference(grey(syncing), grey(pairing)) > 8  # check mark vs dots
