"""`python -m local` (what `make run` calls): start the local host until Ctrl-C or SIGTERM."""

from local.host import main

raise SystemExit(main())
