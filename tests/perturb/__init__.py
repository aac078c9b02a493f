"""Perturbation runs and overload on real devnets (issue #10 items 1 and 3).

Drives ``devnet.perturb`` (as a subprocess, as a user would) and floods Torii of a
running devnet; reads validators only through their public interfaces and, after
they stop, their LevelDB stores.
"""
