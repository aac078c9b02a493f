"""Local multi-validator network for development and tests (``bakong-devnet``).

Owns: generating a Bakong-style network in a directory (keys, genesis, per-validator
configs, ``network.json``), supervising ``bakong-node`` processes (start, stop, kill,
pause, resume, restart, add a validator), the live status table, and the demo payment
stream. Talks to validators only through their public interfaces: process signals,
the HTTP ``/status`` endpoint and Torii (through ``node.client``).
"""
