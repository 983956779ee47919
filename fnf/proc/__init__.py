"""Processes: running each client's work in a watched child, and the Linux facts that make it safe.

``executor`` is the runner's side (start, wait, stop, read the outcome); ``server`` is the process
server that starts and watches each client's work; ``wire`` the messages between them; ``child`` runs
in a Python handler's forked process; ``command`` spawns a command and tells whose a stray is;
``cleanup`` kills what ended work left; ``work`` names its output files; ``outcome`` reads what a
work left; ``linux`` reads /proc (children, subreaping); ``signals`` turns signals into a flag.
"""
