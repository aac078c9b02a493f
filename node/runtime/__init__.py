"""The validator process around the pure cores: adapters, wire codec and trio drivers.

Owns: :mod:`chain` (the consensus pipeline's ``Ledger`` seam over ``node.state.Ledger``:
proposals, execution into block candidates, commit with certificates, applying synced
blocks), :mod:`codec` (pipeline messages <-> ``bakong.peer`` frames, bounded and never
raising on hostile input), :mod:`driver` (the one trio task that owns the pipeline and
executes its actions in order: persist, send, commit) and the sign-state store, and
:mod:`admission` (room for Torii's submissions reserved against the ordering backlog,
bounded by the measured commit rate).
``node.app`` composes these with the network, Torii and the HTTP endpoint.
"""
