import sys

try:
    from colorgan.interfaces.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python was still loading the command line
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
