"""`python -m service`: an alias of `python -m cli` (the `seedforge` command), kept for users."""

from cli.main import main

if __name__ == "__main__":  # vLLM spawns worker processes that re-import the main module
    main()
