from aftercare_bot.cli import main

raise SystemExit(main())
