"""Benchmarks: micro (crypto, ledger, torii) and consensus."""
