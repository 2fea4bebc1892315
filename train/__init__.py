"""Command-line training and data-generation scripts (python -m train.<name> --help)."""
