"""The CSV report, one row per matched segment, from the query JSON; segment times as people
read them; and atomic writes."""
from __future__ import annotations

import csv
import os

COLUMNS = ["query", "rank", "video_id", "reference", "video_score", "copy", "query_start", "query_end",
           "ref_start", "ref_end", "segment_score", "segment_copy", "repeat", "error"]


def fmt_time(t: float) -> str:
    """mm:ss.s (segment ends are placed to a fraction of a keyframe; whole seconds would hide it)."""
    t = round(max(0.0, t), 1)
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def write_atomic(path, write, mode: str = "w") -> None:
    """Write to a temporary name, then rename: a reader never sees half a file, and a failed
    write leaves nothing behind."""
    path = str(path)
    tmp = path + ".tmp"
    try:
        with open(tmp, mode, **({"newline": ""} if "b" not in mode else {})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def segment_rows(results: list[dict], failed: list[tuple[str, str]] = ()):
    """CSV rows of query JSON objects (``QueryResult.to_json``), then one row per failed clip."""
    yield COLUMNS
    for res in results:
        for rank, m in enumerate(res.get("results", []), 1):
            for s in m["segments"]:
                yield [res["query"], rank, m["video_id"], m["path"], f"{m['score']:.4f}", int(m["copy"]),
                       f"{s['query_start']:.2f}", f"{s['query_end']:.2f}", f"{s['ref_start']:.2f}",
                       f"{s['ref_end']:.2f}", f"{s['score']:.4f}", int(s.get("copy", False)),
                       int(s.get("repeat", False)), ""]
    for path, why in failed:
        yield [path] + [""] * (len(COLUMNS) - 2) + [why]


def write_segment_csv(path, results: list[dict], failed=()) -> None:
    write_atomic(path, lambda f: csv.writer(f).writerows(segment_rows(results, failed)))
