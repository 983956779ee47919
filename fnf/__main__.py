"""``python -m fnf`` and the ``fnf`` command: SIGINT is held from the first line (see ``fnf.interrupts``)."""

from __future__ import annotations

from fnf import interrupts

interrupts.hold()


def main() -> None:
    from fnf.cli.main import run_cli

    run_cli()


if __name__ == "__main__":
    main()
