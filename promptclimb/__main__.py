"""``python -m promptclimb``: the command line."""

from promptclimb.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
