"""The public Lanthorn portal: intake forms, receipts, follow-up, and the JSON API.

It stores ciphertext and the minimum needed to route replies, and holds no private key:
it must be safe to seize. Built in issue 3; for now only the application factory exists.
"""
