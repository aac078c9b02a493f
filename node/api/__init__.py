"""Torii: Iroha 1-compatible gRPC API (services over node.api.grpc), status bus, health and
metrics endpoints."""
