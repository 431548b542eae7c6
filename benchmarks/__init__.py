"""Scripts that measure the toolkit and print JSON. Each runs from the repository root as
``python benchmarks/NAME.py`` or ``python -m benchmarks.NAME``; they import only the installed
packages (never each other), and no test imports them. Real media are read from
``$MINERF_SHARED_DATA`` (default ``../shared/data`` beside the repository), as in the tests."""
