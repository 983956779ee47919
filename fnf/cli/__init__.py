"""The command-line interface: a thin layer over ``fnf.app``; ``render`` draws, ``main`` maps
errors to exit codes."""
