"""External systems behind Protocols: each has a real adapter and a fake, chosen by a `*_BACKEND` setting.

Nothing outside this package imports smtplib, stripe, an HTTP client or a vendor SDK.
"""
