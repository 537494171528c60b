"""``python -m natskern`` is the ``natskern`` command."""

from natskern.cli.app import main

if __name__ == "__main__":
    main()
