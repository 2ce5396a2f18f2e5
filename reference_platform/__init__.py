"""The reference platform: a small but real GPU vision inference platform, run locally as processes.

It is the system under test for `resilience`; it never imports `resilience`. Components talk over
HTTP (KServe v2 protocol for inference, a small JSON control API for the supervisor).
"""
