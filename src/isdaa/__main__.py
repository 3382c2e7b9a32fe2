from isdaa.cli import main

raise SystemExit(main())
