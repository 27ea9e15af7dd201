"""The `seedforge` command line: typer commands that parse arguments, call one function of the
layers below and print a summary. `python -m cli` (and the alias `python -m service`)."""
