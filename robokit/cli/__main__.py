"""`python -m robokit.cli`: the same as the `robokit` command."""

from robokit.cli.main import main

main()
