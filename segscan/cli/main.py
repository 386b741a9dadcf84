"""segscan COMMAND [ARGS]: ingest, query, detect, videos or serve (``segscan COMMAND --help``)."""
import sys

COMMANDS = {"ingest": "segscan.cli.ingest", "query": "segscan.cli.query", "detect": "segscan.cli.detect",
            "videos": "segscan.cli.videos",
            "serve": "segscan.cli.serve"}


def main(argv=None) -> int:
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])
