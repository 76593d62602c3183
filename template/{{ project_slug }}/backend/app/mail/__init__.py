"""Outgoing mail through an outbox: texts.py (what each mail says), message.py (the MIME
message), outbox.py (a mail written with the change that causes it), sender.py (delivery)."""
