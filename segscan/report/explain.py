"""Explanation pictures of a match: its similarity map with the aligned segments drawn as
boxes (the papers' figure), and thumbnails of each segment's ends, query beside reference."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..types import Match, SimilarityMap

CELL = 16  # pixels per keyframe in the map picture at most (long maps get fewer, up to MAX_SIDE)
MAX_SIDE = 720
THUMB = (160, 90)


def map_picture(m: SimilarityMap, match: Match) -> Image.Image:
    """The map as a heat picture (query keyframes down, reference keyframes across), each
    segment a box: red when declared a copy, orange otherwise."""
    v = np.where(m.mask, m.values, np.nan)
    lo, hi = (float(np.nanpercentile(v, 5)), float(np.nanmax(v))) if np.isfinite(v).any() else (0.0, 1.0)
    g = np.clip((np.nan_to_num(v, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.stack([g * 255, g * 230, 80 + g * 60], axis=-1).astype(np.uint8)  # dark blue to pale yellow
    q, r = g.shape
    scale = max(1, min(CELL, MAX_SIDE // max(q, r, 1)))
    img = Image.fromarray(rgb).resize((max(r * scale, 1), max(q * scale, 1)), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    qt, rt = np.asarray(m.q_times, float), np.asarray(m.r_times, float)

    def cell(times, t):  # a time's position in cells, between keyframes
        return float(np.interp(t, times, np.arange(len(times)))) if len(times) > 1 else 0.0

    for s in match.segments:
        x0, x1 = cell(rt, s.r_start) * scale, (cell(rt, s.r_end) + 1) * scale
        y0, y1 = cell(qt, s.q_start) * scale, (cell(qt, s.q_end) + 1) * scale
        draw.rectangle([x0, y0, min(x1, img.width - 1), min(y1, img.height - 1)],
                       outline=(230, 30, 30) if s.copy else (240, 150, 20), width=2)
    return img


def frame_at(path: str, t: float, size=THUMB) -> Image.Image:
    """The frame shown at ``t`` seconds (seek to the keyframe before, decode forward); a grey
    tile when the video cannot be read there."""
    import av

    try:
        with av.open(str(path)) as c:
            st = c.streams.video[0]
            start = st.start_time or 0
            target = start + int(max(t, 0.0) / st.time_base) if st.time_base else 0
            c.seek(target, stream=st, backward=True, any_frame=False)
            last = None
            for fr in c.decode(st):
                last = fr
                if fr.pts is not None and fr.pts >= target:
                    break
            if last is not None:
                return last.to_image().resize(size)
    except (av.error.FFmpegError, OSError, IndexError):
        pass
    return Image.new("RGB", size, (128, 128, 128))


def thumb_strip(query_path: str, match: Match, limit: int = 4) -> Image.Image:
    """One row per segment (at most ``limit``): query start | reference start | query end |
    reference end."""
    segs = match.segments[:limit]
    w, h = THUMB
    strip = Image.new("RGB", (4 * w + 12, max(1, len(segs)) * (h + 4)), (255, 255, 255))
    for i, s in enumerate(segs):
        # a little inside the ends, where the copy is surely shown
        pad_q, pad_r = min(0.5, (s.q_end - s.q_start) / 4), min(0.5, (s.r_end - s.r_start) / 4)
        tiles = [frame_at(query_path, s.q_start + pad_q), frame_at(match.path, s.r_start + pad_r),
                 frame_at(query_path, s.q_end - pad_q), frame_at(match.path, s.r_end - pad_r)]
        for j, tile in enumerate(tiles):
            strip.paste(tile, (j * w + (j // 2) * 12, i * (h + 4)))
    return strip


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_explanations(res, out_dir: str | Path) -> list[Path]:
    """``out_dir/<query>-<rank>-<video id>-map.png`` and ``…-frames.png`` for each match."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(res.query).stem
    written = []
    for rank, m in enumerate(res.matches, 1):
        base = out / f"{stem}-{rank:02d}-{m.video_id}"
        if m.video_id in res.maps:
            written.append(base.with_name(base.name + "-map.png"))
            map_picture(res.maps[m.video_id], m).save(written[-1])
        written.append(base.with_name(base.name + "-frames.png"))
        thumb_strip(res.query, m).save(written[-1])
    return written
