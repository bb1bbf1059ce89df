"""One module per `sim` subcommand. Each only parses options, calls the library and prints.

Conventions every command follows:

- ``--json`` prints one JSON object on stdout (and nothing else there);
- sizes accept ``1e6`` notation (`sim.commands._options.SIZE`);
- bad input raises `theory.errors.ParameterError`, which `sim.cli.main` turns into one line and
  exit code 2.
"""
