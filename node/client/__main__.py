"""``python -m node.client``: the ``bakong`` CLI."""

from node.client.cli import main

raise SystemExit(main())
