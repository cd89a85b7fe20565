"""A small HTTP/2 client for the tests, on the `h2` library's sans-IO state
machine over a real socket (plain, or TLS with ALPN h2): many streams on one
connection, the receive window opened as the test reads (or not), and raw
frames when a test needs to send what a well-behaved client never would."""

import socket
import ssl

import h2.config
import h2.connection
import h2.events
import h2.settings

from helpers import IO_TIMEOUT


class Response:
    def __init__(self):
        self.headers = []
        self.body = bytearray()
        self.ended = False
        self.reset = None
        self.trailers = []

    @property
    def status(self):
        return int(self.header(":status"))

    def header(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None


class H2Client:
    """One HTTP/2 connection. `tls`: an ssl.SSLContext (ALPN h2 is asked for)."""

    def __init__(self, port, tls=None, server_name="localhost", window=None, validate=True):
        raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            raw = tls.wrap_socket(raw, server_hostname=server_name)
            self.alpn = raw.selected_alpn_protocol()
        else:
            self.alpn = None
        self.sock = raw
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding="utf-8",
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
        )
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.auto_window = window is None
        self.responses = {}
        self.goaway = None
        self.closed = False
        self.remote_settings = {}
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", authority=None, headers=(), body=None, end=True):
        """Opens a stream; returns its id."""
        sid = self.conn.get_next_available_stream_id()
        fields = [
            (":method", method),
            (":scheme", "https" if self.alpn else "http"),
            (":authority", authority or "localhost"),
            (":path", path),
            *headers,
        ]
        self.conn.send_headers(sid, fields, end_stream=(body is None and end))
        if body is not None:
            self.send_body(sid, body, end=end)
        self.responses[sid] = Response()
        self.flush()
        return sid

    def send_body(self, sid, body, end=True):
        """Sends `body` on `sid` as the windows allow (reading while they are shut)."""
        view = memoryview(body)
        while view:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.read_some()
                continue
            self.conn.send_data(sid, bytes(view[:room]))
            view = view[room:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
        self.flush()

    def read_some(self):
        """Reads once and handles the events; False when the server closed."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        for event in self.conn.receive_data(data):
            self.on_event(event)
        self.flush()
        return True

    def on_event(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self.responses[event.stream_id].headers = list(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.responses[event.stream_id].body += event.data
            if self.auto_window:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            self.responses[event.stream_id].trailers = list(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            self.responses[event.stream_id].ended = True
        elif isinstance(event, h2.events.StreamReset):
            if event.stream_id in self.responses:
                self.responses[event.stream_id].reset = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, change in event.changed_settings.items():
                self.remote_settings[code] = change.new_value

    def done(self, sid):
        r = self.responses[sid]
        return r.ended or r.reset is not None

    def wait(self, *sids, limit=100000):
        """Reads until every stream in `sids` ended or was reset."""
        for _ in range(limit):
            if all(self.done(s) for s in sids):
                break
            if not self.read_some():
                break
        return [self.responses[s] for s in sids]

    def get(self, path, **kw):
        sid = self.request(path, **kw)
        return self.wait(sid)[0]

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
