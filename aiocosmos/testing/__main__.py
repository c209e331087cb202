"""``python -m aiocosmos.testing --upstream URL [--host H] [--port P] [--seed S]`` (see ``cli.py``)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
