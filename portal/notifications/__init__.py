"""Messages to people: one function per message in `service.py`; e-mail is queued and sent by a job."""
