import sys

from colorgan.interfaces.cli import main

sys.exit(main())
