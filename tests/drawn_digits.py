"""Digit images as a user would make them: pen strokes or a font, any size, colour and background."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Each digit as pen strokes in a unit square (x right, y down): polylines, or ("ellipse", box).
STROKES: dict[int, list] = {
    0: [("ellipse", (0.28, 0.1, 0.72, 0.9))],
    1: [[(0.42, 0.22), (0.55, 0.1), (0.55, 0.9)]],
    2: [[(0.3, 0.28), (0.36, 0.14), (0.5, 0.1), (0.64, 0.14), (0.7, 0.28), (0.64, 0.45), (0.3, 0.9), (0.74, 0.9)]],
    3: [
        [(0.3, 0.16), (0.5, 0.1), (0.67, 0.18), (0.68, 0.34), (0.48, 0.48)],
        [(0.48, 0.48), (0.7, 0.6), (0.7, 0.78), (0.5, 0.9), (0.28, 0.84)],
    ],
    4: [[(0.62, 0.9), (0.62, 0.1), (0.25, 0.64), (0.76, 0.64)]],
    5: [[(0.7, 0.1), (0.36, 0.1), (0.33, 0.46), (0.5, 0.4), (0.68, 0.5), (0.7, 0.7), (0.56, 0.88), (0.3, 0.85)]],
    6: [
        [(0.66, 0.12), (0.46, 0.24), (0.34, 0.48), (0.33, 0.72), (0.45, 0.89)],
        [(0.45, 0.89), (0.6, 0.89), (0.69, 0.72), (0.62, 0.55), (0.48, 0.5), (0.34, 0.62)],
    ],
    7: [[(0.27, 0.1), (0.73, 0.1), (0.44, 0.9)]],
    8: [("ellipse", (0.33, 0.1, 0.67, 0.48)), ("ellipse", (0.29, 0.48, 0.71, 0.9))],
    9: [("ellipse", (0.32, 0.1, 0.68, 0.5)), [(0.68, 0.3), (0.64, 0.9)]],
}
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf")
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))


def draw_strokes(
    digit: int,
    size: tuple[int, int] = (200, 200),
    width: int = 12,
    ink: tuple[int, ...] | int = 0,
    paper: tuple[int, ...] | int = 255,
    mode: str = "L",
) -> Image.Image:
    """`digit` drawn with a pen `width` pixels wide, filling most of the image's height."""
    image = Image.new(mode, size, paper)
    pen = ImageDraw.Draw(image)
    side = min(size)
    left, top = (size[0] - side) / 2, (size[1] - side) / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return left + x * side, top + y * side

    for stroke in STROKES[digit]:
        if stroke[0] == "ellipse":
            x0, y0, x1, y1 = stroke[1]
            pen.ellipse([*at(x0, y0), *at(x1, y1)], outline=ink, width=width)
        else:
            pen.line([at(x, y) for x, y in stroke], fill=ink, width=width, joint="curve")
    return image


def font_path(name: str) -> Path | None:
    return next((folder / name for folder in FONT_DIRS if (folder / name).is_file()), None)


def draw_text(
    digit: int,
    font: Path,
    height: int = 120,
    ink: tuple[int, ...] | int = 0,
    paper: tuple[int, ...] | int = 255,
    mode: str = "L",
) -> Image.Image:
    """`digit` typeset in `font`, about `height` pixels tall, with a margin around it."""
    face = ImageFont.truetype(str(font), height)
    box = face.getbbox(str(digit))
    image = Image.new(mode, (box[2] + height // 2, box[3] + height // 2), paper)
    ImageDraw.Draw(image).text((height // 4, height // 4), str(digit), font=face, fill=ink)
    return image
