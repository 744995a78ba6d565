"""Our SMTP front, in two layers: a sans-IO state machine (protocol.py, commands.py,
events.py, syntax.py) and the asyncio adapter that feeds it and runs the service's decisions
(session.py, decisions.py, gate.py, clock.py, tls.py, server.py).

The names other parts of the service use are exported here.
"""

from ephemail.mail.smtp.gate import ConnectionGate, SmtpLimits
from ephemail.mail.smtp.server import bind_socket, smtp_factory

__all__ = ["ConnectionGate", "SmtpLimits", "bind_socket", "smtp_factory"]
