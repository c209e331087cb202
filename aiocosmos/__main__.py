"""``python -m aiocosmos ingest|export ...`` (see aiocosmos/_cli/main.py)."""

import sys

from ._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
