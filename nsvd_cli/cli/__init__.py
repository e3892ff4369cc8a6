"""The ``nsvd`` command line (Typer): one module per command; errors mapped in main.py."""
