"""The query path, one for the CLI, the batch mode, the benchmark and the service.

``config`` (settings and their resolution), ``maps`` (index search, candidates, similarity
maps), ``refine`` (segment offsets and ends), ``exclusive`` (one reference place per query
span), ``rank`` (align, refine, decide) and ``run`` (the one function: clip -> results).
"""
from .config import QueryConfig, Settings, resolve  # noqa: F401
from .run import QueryResult, query_video, search_features  # noqa: F401
