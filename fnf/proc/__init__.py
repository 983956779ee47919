"""Processes: running each client's work in a watched child, and the Linux facts that make it safe.

``executor`` is the runner's side (start, wait, stop, read the outcome); ``child`` runs after the
fork (the guard and the horse); ``work`` is what passes between them; ``outcome`` reads what a child
left; ``linux`` reads /proc (identity, children, subreaping); ``signals`` turns signals into a flag.
"""
