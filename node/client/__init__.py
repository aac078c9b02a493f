"""The project's own client: async Torii client, transaction builders, and the `bakong` CLI."""
