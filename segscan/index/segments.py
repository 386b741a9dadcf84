"""A trained IVF index kept as segments that share one quantiser: new vectors go into the
newest segment, and a save rewrites only the segments changed since the last one.

At 30M keyframes one IVF file is 7.9 GB; rewriting it whole for every ingest of a few
videos costs minutes of disk traffic. Every segment is a copy of the same trained, empty
IVF, so a vector lands in the same inverted list with the same code whichever segment holds
it: a search assigns the query to its lists once, scans those lists in every segment
(``search_preassigned``) and merges, and so returns what one IVF holding every vector
returns (to ties in score), at the cost of one list scan per segment.
"""
from __future__ import annotations

import uuid

import numpy as np

from .ids import KF_BITS, split_ids
from .shards import merge_rows

# vectors a segment takes before a new one is started (about 0.5 GB of 8-bit 256-d codes):
# an ingest into a 30M catalogue rewrites one such file, not the whole 8 GB
SEGMENT_VECTORS = 2_000_000


class IVFSegments:
    """Segments of one trained faiss IVF (``trained``: the first, possibly holding vectors).

    ``videos[i]``: the video numbers segment ``i`` holds (a video's vectors are never split);
    ``dirty``: the segments changed since the database last wrote them; ``token``: names the
    training, so a segment file of an earlier training is never mixed with these."""

    def __init__(self, trained, segment_vectors: int = SEGMENT_VECTORS, token: str | None = None):
        import faiss

        self.faiss = faiss
        self.parts = [trained]
        self.videos: list[set[int]] = [set()]
        self.dirty: set[int] = {0}
        self.segment_vectors = segment_vectors
        self.token = token or uuid.uuid4().hex[:16]
        self._gpu: list | None = None

    @property
    def ntotal(self) -> int:
        return sum(int(p.ntotal) for p in self.parts)

    @property
    def nlist(self) -> int:
        return int(self.parts[0].nlist)

    def _empty_copy(self):
        # faiss copies the trained quantiser and codec only with the lists; they are emptied
        # after (a passing copy of one segment, once a segment)
        new = self.faiss.clone_index(self.parts[-1])
        new.reset()
        return new

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Add to the newest segment, after starting a new one if it is full (so one call's
        vectors, a video's, stay in one segment)."""
        if self.segment_vectors and self.parts[-1].ntotal >= self.segment_vectors:
            self.parts.append(self._empty_copy())
            self.videos.append(set())
        self.parts[-1].add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
        self.videos[-1].update(int(n) for n in np.unique(split_ids(ids)[0]))
        self.dirty.add(len(self.parts) - 1)
        self._gpu = None

    def remove_videos(self, nums) -> None:
        for n in {int(x) for x in nums}:
            sel = self.faiss.IDSelectorRange(n << KF_BITS, (n + 1) << KF_BITS)
            for i, part in enumerate(self.parts):
                if part.remove_ids(sel) or n in self.videos[i]:
                    self.videos[i].discard(n)
                    self.dirty.add(i)
        self._gpu = None

    def search(self, q: np.ndarray, k: int, nprobe: int, use_gpu: bool = False):
        """(scores, ids) arrays of shape (len(q), k), ids -1 where a row has fewer."""
        nprobe = min(nprobe, self.nlist)
        for p in self.parts:
            p.nprobe = nprobe
            # over the queries, inside the call: faiss's default (0) leaves that to IndexIVF.search,
            # so a search_preassigned of its own runs on one thread (twice the time on two cores)
            p.parallel_mode = 3
        if use_gpu:  # each segment on the device, searched whole: the same lists are probed
            if self._gpu is None:
                res = self.faiss.StandardGpuResources()
                self._gpu = [self.faiss.index_cpu_to_gpu(res, 0, p) for p in self.parts]
            found = [g.search(q, k) for g in self._gpu]
        else:
            dq, iq = self.parts[0].quantizer.search(q, nprobe)  # the lists, found once for all segments
            found = [p.search_preassigned(q, k, iq, dq) for p in self.parts]
        if len(found) == 1:
            return found[0]
        rows = merge_rows([list(zip(s, i)) for s, i in found], k)
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        for r, (s, i) in enumerate(rows):
            keep = i >= 0  # merge_rows keeps faiss's -1 padding; it sorts last on its -inf score
            s, i = s[keep], i[keep]
            scores[r, :len(s)], ids[r, :len(i)] = s, i
        return scores, ids

    def write(self, i: int, f) -> None:
        """Stream segment ``i`` to a binary file (faiss's 1 MB blocks)."""
        self.faiss.write_index(self.parts[i], self.faiss.PyCallbackIOWriter(f.write))

    def append_read(self, index) -> None:
        """Take one more segment read back (its videos are set by the reader: the file's header,
        or :meth:`videos_in`)."""
        self.parts.append(index)
        self.videos.append(set())
        self._gpu = None

    def videos_in(self, part) -> set[int]:
        """The video numbers a segment's ids name."""
        inv, got = part.invlists, []
        for lst in range(part.nlist):
            n = inv.list_size(lst)
            if n:
                got.append(self.faiss.rev_swig_ptr(inv.get_ids(lst), n).copy())
        return {int(v) for v in np.unique(split_ids(np.concatenate(got))[0])} if got else set()
