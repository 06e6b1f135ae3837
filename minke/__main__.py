from minke.cli.main import main

raise SystemExit(main())
