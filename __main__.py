"""``python -m reason4rec`` is the ``reason4rec`` command."""

from reason4rec.cli import main

if __name__ == "__main__":
    main()
