"""Bakong payment flows, pure: KHQR codes (khqr), pay-by-QR and cross-border settlement batches built on node.model; imports no trio, no sockets, no clock (time is passed in)."""  # noqa: E501
