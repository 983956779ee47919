"""The run: the loop that takes a stream, sweeps its clients through an executor and records each
step. ``runner`` is the loop; ``request`` what it is asked and reports; ``observers`` who hears
it; ``sweep`` which clients come next; ``lease`` who is dead."""
