"""Loaded by subprocess tests (via PYTHONPATH): any outbound connection
raises, so a code path that tries the network fails the test instead of
hanging or silently downloading."""
import socket

_connect = socket.socket.connect


def _refuse(self, address):
  if self.family in (socket.AF_INET, socket.AF_INET6):
    raise OSError(f'NETWORK ACCESS ATTEMPTED: {address}')
  return _connect(self, address)


socket.socket.connect = _refuse
socket.create_connection = lambda address, *a, **k: _refuse(
    socket.socket(), address)
