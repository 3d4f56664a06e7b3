"""A record the clinic can prove and can forget.

`chain` links every change-set, with its feed events and history rows, into
one hash chain; `verify` walks it; `erasure` removes a departed doctor's
personal data while the chain stays verifiable; `retention` erases the
doctors nobody needs any more. `canonical` says, once, how a row is written
down for hashing.
"""
