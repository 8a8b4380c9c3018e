"""The sealed triage console: key ceremony, unseal, sync, case workflow, audit.

It alone holds the oversight private key, and it never accepts connections from the
portal. Built in issue 4; for now only the application factory exists.
"""
