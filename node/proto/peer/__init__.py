"""Generated protobuf modules for proto/peer (do not edit)."""
