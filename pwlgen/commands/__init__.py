"""CLI subcommands, one module each (see `pwlgen.cli`)."""
