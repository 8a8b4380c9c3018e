"""The public Lanthorn portal: intake forms, receipts, follow-up, and the JSON API.

It stores ciphertext and the minimum needed to route replies, and holds no private key:
it must be safe to seize. `create_app` in `portal.app` builds it; `portal.cli` runs it.
"""
