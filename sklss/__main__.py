"""``python -m sklss`` runs the command-line interface (see ``sklss --help``)."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
