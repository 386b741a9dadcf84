"""python -m segscan COMMAND: the same as the ``segscan`` command."""
import sys

from .cli.main import main

sys.exit(main())
