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
