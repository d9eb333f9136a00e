from anime_gan.cli import main

raise SystemExit(main())
