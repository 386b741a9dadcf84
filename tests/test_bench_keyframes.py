"""The keyframe benchmark's settings and its train-split mode's refusals (no folder needed)."""
import argparse

import pytest

from segscan.bench import keyframes


def test_settings_name_their_keyframes():
    ske = keyframes.encoder_config("ske:0.7:1.5")
    assert (ske.keyframes, ske.ske_threshold, ske.ske_max_gap, ske.ske_grid) == ("ske", 0.7, 1.5, True)
    assert not keyframes.encoder_config("ske-frames:0.7:1.5").ske_grid
    uni = keyframes.encoder_config("uniform:2")
    assert (uni.keyframes, uni.keyframe_fps) == ("uniform", 2.0)
    for bad in ("uniform", "ske:0.5", "every:2"):
        with pytest.raises(argparse.ArgumentTypeError):
            keyframes.setting_args(bad)


def test_the_train_split_mode_refuses_a_folder_that_is_not_a_benchmark(tmp_path, capsys):
    assert keyframes.main(["--part", "train", "--bench", str(tmp_path), "--settings", "uniform:1"]) == 2
    assert "not a built benchmark folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        keyframes.main(["--part", "train", "--settings", "often:3"])


def test_held_out_footage_has_no_train_split_to_choose_on(tmp_path, capsys):
    with pytest.raises(SystemExit):
        keyframes.main(["--part", "train", "--media", str(tmp_path), "--settings", "uniform:1"])
    assert "no train split" in capsys.readouterr().err


def test_a_bad_baseline_is_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit):
        keyframes.main(["--part", "train", "--bench", str(tmp_path), "--settings", "uniform:1", "--against", "often:3"])


def test_each_row_gets_its_difference_from_each_baseline():
    import numpy as np

    from segscan.bench.paired import QueryTerms, paired_difference

    qids = [f"q{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    one = QueryTerms(qids, rng.random(40), np.ones(40), rng.random(40), np.ones(40))
    ske = QueryTerms(qids, rng.random(40), np.ones(40), rng.random(40), np.ones(40))
    rows = [{"setting": "uniform:1"}, {"setting": "ske:0.1:1.5"}]
    keyframes._add_against(rows, {"uniform:1": one, "ske:0.1:1.5": ske}, ["uniform:1"], resamples=300)
    want = paired_difference(ske, one, 300)
    assert rows[0]["vs uniform:1"] == "-" and "bootstrap" not in rows[0]
    assert rows[1]["vs uniform:1"] == f"{want['delta']:+.3f} [{want['low']:+.3f}, {want['high']:+.3f}]"
    assert rows[1]["bootstrap"]["uniform:1"] == want
