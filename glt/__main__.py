import sys

from glt.commands import main

sys.exit(main())
