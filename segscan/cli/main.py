"""segscan COMMAND [ARGS]: ingest, query, detect, videos or serve (``segscan COMMAND --help``)."""
import sys

COMMANDS = {"ingest": "segscan.cli.ingest", "query": "segscan.cli.query", "detect": "segscan.cli.detect",
            "videos": "segscan.cli.videos", "serve": "segscan.cli.serve"}


def main(argv=None) -> int:
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    asked = bool(argv) and argv[0] in ("-h", "--help")
    if asked or not argv or argv[0] not in COMMANDS:  # help asked for, or no command: the list of commands
        print(__doc__.strip(), file=sys.stdout if asked or not argv else sys.stderr)
        return 0 if asked else 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])
