import sys

from glt.cli import main

sys.exit(main())
