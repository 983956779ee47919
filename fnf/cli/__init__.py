"""The command-line interface: a thin layer over ``fnf.commands``; ``render`` draws, ``main`` maps
errors to exit codes."""
