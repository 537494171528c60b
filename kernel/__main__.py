"""``python -m kernel`` is the ``natskern`` command."""

from kernel.cli.app import main

if __name__ == "__main__":
    main()
