"""Copy-detection augmentations for training descriptors (the SSCD family, written here).

Each call makes one strongly edited view of a picture: a random resized crop, then each
of the edits below with its own probability, in a random order of the photometric and
overlay groups. They are deliberately *not* the benchmark generator's edits
(:mod:`segscan.synth`): the descriptor benchmark applies those, so a descriptor that
scores well there has learned the kind of edit, not one implementation of it.
"""
from __future__ import annotations

import io
import string

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

_FONT = None


def _font(size: int):
    global _FONT
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        _FONT = _FONT or ImageFont.load_default()
        return _FONT


def resized_crop(img: Image.Image, rng: np.random.Generator, size: int, scale=(0.25, 1.0),
                 ratio=(3 / 4, 4 / 3)) -> Image.Image:
    """A random window covering ``scale`` of the area at aspect ``ratio``, resized to size x size."""
    w, h = img.size
    for _ in range(10):
        area = w * h * rng.uniform(*scale)
        r = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        cw, ch = int(round(np.sqrt(area * r))), int(round(np.sqrt(area / r)))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    return img.resize((size, size), Image.BILINEAR)


def colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    for enh in rng.permutation([ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]):
        img = enh(img).enhance(float(rng.uniform(0.5, 1.6)))
    if rng.random() < 0.3:  # hue rotation
        hsv = np.asarray(img.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(-30, 30))) % 256
        img = Image.fromarray(hsv, "HSV").convert("RGB")
    return img


def overlay_text(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    d = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(3, 16))
        txt = "".join(rng.choice(list(string.ascii_letters + string.digits + " !?"), n))
        size = int(h * rng.uniform(0.06, 0.2))
        xy = (int(rng.uniform(0, w * 0.7)), int(rng.uniform(0, h * 0.85)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        d.text(xy, txt, fill=fill, font=_font(size))
    return img


def overlay_shapes(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Emoji- and logo-like opaque or translucent shapes."""
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = img.size
    for _ in range(int(rng.integers(1, 4))):
        sw, sh = int(w * rng.uniform(0.08, 0.3)), int(h * rng.uniform(0.08, 0.3))
        x0, y0 = int(rng.uniform(0, w - sw)), int(rng.uniform(0, h - sh))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3)) + (int(rng.integers(120, 256)),)
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x0, y0, x0 + sw, y0 + sh), fill=fill)
    return Image.alpha_composite(base, layer).convert("RGB")


def pad(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Letterbox or pillarbox: the picture shrunk along one axis inside flat bars."""
    w, h = img.size
    f = rng.uniform(0.6, 0.9)
    fill = (0, 0, 0) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(0, 256, 3))
    out = Image.new("RGB", (w, h), fill)
    if rng.random() < 0.5:
        nh = int(h * f)
        out.paste(img.resize((w, nh), Image.BILINEAR), (0, (h - nh) // 2))
    else:
        nw = int(w * f)
        out.paste(img.resize((nw, h), Image.BILINEAR), ((w - nw) // 2, 0))
    return out


def paste_into(fg: Image.Image, bg: Image.Image, rng: np.random.Generator, scale=(0.4, 0.8)) -> Image.Image:
    """``fg`` shrunk and pasted anywhere inside ``bg`` (picture-in-picture)."""
    w, h = bg.size
    s = rng.uniform(*scale)
    sw, sh = max(8, int(w * s)), max(8, int(h * s * rng.uniform(0.8, 1.25)))
    sh = min(sh, h)
    out = bg.copy()
    out.paste(fg.resize((sw, sh), Image.BILINEAR), (int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sh + 1))))
    return out


def lowres(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    f = rng.uniform(0.15, 0.5)
    return img.resize((max(8, int(w * f)), max(8, int(h * f))), Image.BILINEAR).resize((w, h), Image.BILINEAR)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def rotate(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    ang = float(rng.uniform(-20, 20))
    return img.rotate(ang, Image.BILINEAR, expand=False, fillcolor=(0, 0, 0))


def noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(img).astype(np.float32) + rng.normal(0, rng.uniform(3, 25), (img.size[1], img.size[0], 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def copy_view(img: Image.Image, other: Image.Image, rng: np.random.Generator, size: int) -> np.ndarray:
    """One strongly edited view of ``img`` at size x size (``other``: unrelated content for
    picture-in-picture both ways). Returns uint8 (size, size, 3)."""
    v = resized_crop(img, rng, size)
    if rng.random() < 0.5:
        v = ImageOps.mirror(v)
    if rng.random() < 0.2:
        v = rotate(v, rng)
    if rng.random() < 0.8:
        v = colour(v, rng)
    if rng.random() < 0.2:
        v = ImageOps.grayscale(v).convert("RGB")
    if rng.random() < 0.3:
        v = v.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5))))
    if rng.random() < 0.1:
        v = noise(v, rng)
    if rng.random() < 0.2:
        v = overlay_text(v, rng)
    if rng.random() < 0.2:
        v = overlay_shapes(v, rng)
    r = rng.random()
    if r < 0.12:
        v = pad(v, rng)
    elif r < 0.24:  # the copy inside unrelated footage
        v = paste_into(v, resized_crop(other, rng, size), rng)
    elif r < 0.32:  # unrelated footage inside the copy (a cutmix-like occluder)
        v = paste_into(resized_crop(other, rng, size), v, rng, scale=(0.2, 0.45))
    if rng.random() < 0.15:
        v = lowres(v, rng)
    if rng.random() < 0.4:
        v = jpeg(v, int(rng.integers(10, 70)))
    return np.asarray(v.convert("RGB"), dtype=np.uint8)
