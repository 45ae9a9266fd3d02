import sys

from lantern_nb.cli import main

sys.exit(main())
