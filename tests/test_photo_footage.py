"""Photo footage for comparator training: clips of one source's train photos, the rest stills."""
import csv
import zlib
from pathlib import Path

import numpy as np

from segscan.corpus import load_clips, photo_part
from segscan.train.photo_footage import build, plan


def _tree(root: Path, sources: dict[str, int]) -> None:
    import skimage.io

    rng = np.random.default_rng(0)
    for s, n in sources.items():
        (root / s).mkdir(parents=True)
        for k in range(n):
            skimage.io.imsave(str(root / s / f"p{k}.jpg"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
                              check_contrast=False)


def test_clips_take_one_sources_photos_and_leave_stills_in_every_source():
    root = Path("/photos")
    photos = [root / s / f"p{k}.jpg" for s, n in (("a", 9), ("b", 4), ("c", 2)) for k in range(n)]
    groups, stills = plan(photos, root, clips=50, shots=(2, 3), rng=np.random.default_rng(1))
    used = [p for g in groups for p in g]
    assert len(used) == len(set(used)) and not set(used) & set(stills)
    assert set(used) | set(stills) == set(photos)
    assert all(len({p.parts[2] for p in g}) == 1 and 2 <= len(g) <= 3 for g in groups)
    assert {p.parts[2] for p in stills} == {"a", "b", "c"}  # c, too small for a clip, is all stills


def test_build_writes_clips_the_corpus_reads_from_train_photos_only(tmp_path):
    train = [n for n in (f"src{i}" for i in range(40)) if zlib.crc32(n.encode()) % 5 and zlib.crc32(n.encode()) % 10 != 1]
    test = [n for n in (f"src{i}" for i in range(40)) if zlib.crc32(n.encode()) % 5 == 0]
    root = tmp_path / "photos"
    _tree(root, {train[0]: 4, train[1]: 3, test[0]: 4})
    assert photo_part(root / test[0] / "p0.jpg", root) == "test"
    footage = build(tmp_path / "out", clips=2, seconds=(1.0, 1.5), root=root, progress=False)
    clips = load_clips(footage)
    assert len(clips) == 2 and len({c.content_group for c in clips}) == 2
    assert {c.category for c in clips} <= {train[0], train[1]}
    for c in clips:
        import av

        with av.open(str(c.path)) as f:
            n = sum(1 for _ in f.decode(video=0))
        assert abs(n / 15.0 - c.duration) < 1e-3
    stills = [p.resolve() for p in (tmp_path / "out" / "stills").iterdir()]
    assert stills and all(test[0] not in str(p) for p in stills)
    assert next(csv.reader(open(footage / "SOURCES.tsv"), delimiter="\t"))[0] == "file"
