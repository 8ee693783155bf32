"""An MJPEG-over-HTTP camera on 127.0.0.1 in a thread (multipart/x-mixed-replace, as IP cameras
serve it), whose connections can be cut and which can be killed mid-stream."""

from __future__ import annotations

import http.server
import threading
import time

import cv2
import numpy as np


class MjpegServer:
    """Serves `frames` in a loop at `fps`: connection i sends `per_connection[i]` frames and is
    then cut; after the last one the server is killed (connections are refused)."""

    def __init__(self, frames: list[np.ndarray], per_connection: list[int], fps: float = 30.0):
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.per_connection = list(per_connection)
        self.interval = 1 / fps
        self.connections = 0
        self.sent = 0  # frames sent, over all connections
        self.killed = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                number = outer.connections
                outer.connections += 1
                if number >= len(outer.per_connection):
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for i in range(outer.per_connection[number]):
                        jpeg = outer.jpegs[i % len(outer.jpegs)]
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                        self.wfile.write(head.encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        outer.sent += 1
                        time.sleep(outer.interval)
                except (BrokenPipeError, ConnectionResetError):
                    return
                if number == len(outer.per_connection) - 1:
                    threading.Thread(target=outer.kill, daemon=True).start()

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/video.mjpg"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def kill(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        if not self.killed.is_set():
            self.killed.set()
            self._server.shutdown()
            self._server.server_close()
