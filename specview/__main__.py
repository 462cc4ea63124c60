from specview.cli import main

raise SystemExit(main())
