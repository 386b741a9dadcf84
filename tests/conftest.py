from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MEDIA = SHARED / "media"


@pytest.fixture(scope="session")
def shared_media():
    if not MEDIA.is_dir():
        pytest.skip(f"shared clips not found at {MEDIA}")
    return MEDIA


@pytest.fixture(scope="session")
def encoder():
    from segscan.pipeline.extract import VideoEncoder

    return VideoEncoder()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A small generated gallery (4 camera-motion videos) and an edited copy of one of them."""
    from segscan.demo import photo
    from segscan.synth import SpatialEdit, copy_segment, pan_frames, write_video

    root = tmp_path_factory.mktemp("corpus")
    (root / "gallery").mkdir()
    frames = {}
    for i, name in enumerate(["astronaut", "coffee", "rocket", "hubble_deep_field"]):
        fr = list(pan_frames(photo(name), 10.0, 25.0, (320, 240), seed=i))
        write_video(fr, root / "gallery" / f"{name}.mp4", 25.0, threads=1)  # same bytes on every machine
        frames[name] = fr
    filler = list(pan_frames(photo("gravel"), 4.0, 25.0, (320, 240), seed=50))
    body = copy_segment(frames["coffee"], 25.0, 2.0, 8.0, 1.0, 25.0, [SpatialEdit("crop", 0.4), SpatialEdit("flip")])
    write_video(filler[:50] + body + filler[50:100], root / "query.mp4", 25.0, crf=30, threads=1)
    truth = {"reference": "coffee.mp4", "segment": [2.0, 8.0, 2.0, 8.0]}  # q_start, q_end, r_start, r_end
    return root, truth


def seeded_vectors(n, d, seed=0, clusters=64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def faststart(src, dst):
    """Remux with the index at the front, as web uploads are: a cut-off copy still opens."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "+faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for pkt in i.demux(i.streams.video[0]):
            if pkt.dts is not None:
                pkt.stream = s
                o.mux(pkt)


# the root entry points (ingest.py, query.py) are importable in tests
import sys as _sys

_sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
