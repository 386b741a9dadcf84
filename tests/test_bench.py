"""Benchmark pieces: VCDB loader on the real annotations, the copy generator's ground truth."""
import csv
import json

import pytest

from segscan.bench.vcdb import load_annotations
from segscan.query import QueryConfig
from conftest import SHARED


@pytest.fixture(scope="module")
def vcdb():
    folder = SHARED / "vcdb-annotations"
    if not folder.is_dir():
        pytest.skip(f"VCDB annotations not found at {folder}")
    return load_annotations(folder)


def test_vcdb_annotations_load(vcdb):
    assert len(vcdb.videos) > 400
    assert len(vcdb.pairs) > 5000
    n_boxes = sum(len(v) for v in vcdb.labels.values())
    assert n_boxes > 8000
    # VCDB's structure: several segments per pair are common
    assert max(len(v) for v in vcdb.labels.values()) >= 3
    for boxes in list(vcdb.labels.values())[:200]:
        for q0, r0, q1, r1 in boxes:
            assert q1 >= q0 and r1 >= r0


def test_vcdb_metrics_on_truth_itself(vcdb):
    from segscan.bench.metrics import vcsl_f1, vsc_micro_ap

    keys = list(vcdb.labels)[:300]
    truth = {k: vcdb.labels[k] for k in keys}
    m = vcsl_f1(truth, truth)
    assert m["f1"] > 0.99  # overlapping true boxes make it slightly below 1 by definition
    ap = vsc_micro_ap({k: [(b, 1.0) for b in v] for k, v in truth.items()}, truth)
    assert ap == pytest.approx(1.0, abs=1e-9)


def test_generator_ground_truth(tmp_path):
    from segscan.bench.generate import BenchConfig, build
    from segscan.corpus import load_clips
    from segscan.pipeline.decode import probe

    if not (SHARED / "media").is_dir():
        pytest.skip("shared clips not found")
    cfg = BenchConfig(seed=3, test_queries=3, test_negatives=2, train_queries=2, train_negatives=1,
                      distractor_videos=1, distractor_seconds=3.0)
    out = build(tmp_path / "b", cfg, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    split = meta["split"]
    groups_by_stem = {c.path.stem: c.content_group for c in load_clips()}
    for part in ("train", "test"):
        labels = json.loads((out / "truth" / f"{part}_label_file.json").read_text())
        rows = list(csv.DictReader(open(out / "truth" / f"{part}_pairs.csv")))
        assert len(rows) == sum(len(v) for v in labels.values())
        for r in rows:
            # a copy comes from the query's own split, and from a clip in the gallery
            assert split[groups_by_stem[r["reference_id"]]] == part
            q0, q1, r0, r1 = (float(r[k]) for k in ("q_start", "q_end", "r_start", "r_end"))
            speed = float(r["temporal"].split()[1]) if r["temporal"].startswith("speed") else 1.0
            assert (q1 - q0) == pytest.approx((r1 - r0) / speed, abs=0.15)
            qdur = probe(out / "queries" / part / f"{r['query_id']}.mp4").duration
            assert q1 <= qdur + 0.15
        negs = [p for p in (out / "queries" / part).glob("*neg*.mp4")]
        assert negs and not any(k.startswith(p.stem + "-") for p in negs for k in labels)
    gallery = (out / "gallery.txt").read_text().split()
    held = {g for g, s in split.items() if s.endswith("holdout")}
    assert not any(groups_by_stem.get(p.rsplit("/", 1)[1][:-4]) in held for p in gallery)
    # building again with the same configuration reuses it; another configuration is refused
    assert build(tmp_path / "b", cfg, progress=False) == out
    cfg.seed = 4
    with pytest.raises(ValueError):
        build(tmp_path / "b", cfg, progress=False)


def test_vcdb_mode_runs_on_a_vcsl_folder(corpus, tmp_path, capsys):
    """`python -m segscan.bench run --vcdb DIR` on a tiny folder in the VCDB/VCSL layout."""
    import shutil

    from segscan.bench.run import main

    root, truth = corpus
    d = tmp_path / "vcdb"
    (d / "videos").mkdir(parents=True)
    for p in (root / "gallery").glob("*.mp4"):
        shutil.copy(p, d / "videos" / p.name)
    shutil.copy(root / "query.mp4", d / "videos" / "q1.mp4")
    ref = truth["reference"][:-4]
    q0, q1, r0, r1 = truth["segment"]
    (d / "label_file.json").write_text(json.dumps({f"q1-{ref}": [[q0, r0, q1, r1]]}))
    (d / "pair_file.csv").write_text(f"query_id,reference_id\nq1,{ref}\n")
    assert main(["run", "--vcdb", str(d), "--methods", "tn,hv", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"segscan default ({QueryConfig.aligner})" in out and "HV" in out
    rows = json.loads((d / "segscan-results.json").read_text())["rows"]
    default = rows[-1]
    # the copy is found and ranked first; off-diagonal segments of the slow pan (its content recurs at
    # other offsets) above the copy threshold cost precision. The copy starts and ends exactly on
    # keyframes (2 s and 8 s at 1 keyframe/s), and reported ends lie halfway between the keyframes
    # around them (align.base.centre_ends): 1.5-7.5 s, which covers (5.5/6)^2 = 0.84 of its box, and
    # bounds recall and micro-AP alike
    assert default["recall"] > 0.8 and default["micro_ap"] > 0.8 and default["video_map"] == 1.0
    assert default["f1"] > 0.4


def test_tune_on_needs_the_same_split_and_gallery(tmp_path):
    from segscan.bench.splits import check_same_split

    def folder(name, split, gallery):
        d = tmp_path / name
        d.mkdir()
        (d / "meta.json").write_text(json.dumps({"split": split}))
        (d / "gallery.txt").write_text("\n".join(f"/{name}/{g}.mp4" for g in gallery) + "\n")
        return d

    a = folder("a", {"x": "test", "y": "train"}, ["001_x", "002_y"])
    check_same_split(a, folder("b", {"x": "test", "y": "train"}, ["002_y", "001_x"]))  # other paths, same videos
    with pytest.raises(SystemExit, match="does not share"):
        check_same_split(a, folder("c", {"x": "train", "y": "test"}, ["001_x", "002_y"]))
    with pytest.raises(SystemExit, match="does not share"):
        check_same_split(a, folder("d", {"x": "test", "y": "train"}, ["001_x"]))
    with pytest.raises(SystemExit, match="not a built benchmark"):
        check_same_split(a, tmp_path / "missing")


def test_out_may_name_the_benchmark_folder_itself(tmp_path):
    """--out is where benchmark folders live; a built folder passed as --out is used, not nested
    into (which would generate a second, different benchmark inside it)."""
    from segscan.bench.run import bench_folder

    key = "bench-s0-t10n10-r300n60-d60"
    assert bench_folder(tmp_path, key) == tmp_path / key
    built = tmp_path / key
    built.mkdir()
    (built / "meta.json").write_text("{}")
    assert bench_folder(built, key) == built
    with pytest.raises(SystemExit, match="pass the folder above it"):
        bench_folder(built, "bench-s1-t100n100-r60n30-d60")


def test_held_out_footage_is_all_test_in_a_folder_of_its_own(tmp_path):
    """`bench run --media DIR`: copies of footage no choice was made on. Every content group is
    test (holdouts apart), nothing is train, and the folder is named after the footage."""
    from segscan.bench.generate import BenchConfig, build
    from segscan.corpus import load_clips

    extra = SHARED / "media-extra"
    if not extra.is_dir():
        pytest.skip("shared held-out clips not found")
    cfg = BenchConfig(seed=3, test_queries=3, test_negatives=1, distractor_videos=1, distractor_seconds=3.0).held_out()
    assert cfg.train_queries == cfg.train_negatives == 0
    assert cfg.key("media-extra").startswith("bench-media-extra-s3-")
    out = build(tmp_path / cfg.key("media-extra"), cfg, media=extra, progress=False)
    split = json.loads((out / "meta.json").read_text())["split"]
    assert set(split.values()) == {"test", "test-holdout"}
    extra_stems = {c.path.stem for c in load_clips(extra)}
    rows = list(csv.DictReader(open(out / "truth" / "test_pairs.csv")))
    assert rows and all(r["reference_id"] in extra_stems for r in rows)
    assert json.loads((out / "truth" / "train_label_file.json").read_text()) == {}
    # the same configuration over other footage is another benchmark: refused, not mixed in
    if (SHARED / "media").is_dir():
        with pytest.raises(ValueError, match="footage"):
            build(out, cfg, media=SHARED / "media", progress=False)


def test_held_out_footage_refuses_tuning_on_itself(tmp_path, capsys):
    from segscan.bench.run import main

    extra = SHARED / "media-extra"
    if not extra.is_dir():
        pytest.skip("shared held-out clips not found")
    with pytest.raises(SystemExit):
        main(["run", "--media", str(extra), "--out", str(tmp_path), "--methods", "tn", "-q"])
    assert "--tune-on" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--media", str(tmp_path), "--out", str(tmp_path), "--methods", ",", "-q"])
    assert "not a footage folder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing built
