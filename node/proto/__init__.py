"""Generated protobuf modules (never edited by hand).

``node.proto.iroha``: Iroha 1.6 client schema (package ``iroha.protocol``).
``node.proto.peer``: bakong-node's validator-to-validator protocol (``bakong.peer``).
Regenerate with ``make proto``; a test proves the committed files match ``proto/``.
"""
