"""Console-script wrappers that run the root entry points' ``main`` when segscan is installed."""
import importlib.util
import sys
from pathlib import Path


def _root_main(name: str) -> int:
    path = Path(__file__).resolve().parent.parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"segscan_{name}_cli", path)
    if spec is None or not path.exists():
        print(f"error: {path} not found (run from a source checkout)", file=sys.stderr)
        return 2
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main()


def ingest_main() -> int:
    return _root_main("ingest")


def query_main() -> int:
    return _root_main("query")
