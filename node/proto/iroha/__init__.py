"""Generated protobuf modules for proto/iroha (do not edit)."""
