"""A real HTTP(S) camera stand-in for the live-source tests: MJPEG stream and progressive MP4.

Run with the project's interpreter (it decodes the clip with PyAV and encodes JPEG with OpenCV)::

    python tests/integration/http_media_server.py --port 8080 --clip clip.mp4 \
        [--user viewer --password pw] [--cert cert.pem --key key.pem] [--max-frames 150]

Routes (the standard library's ``ThreadingHTTPServer``, one thread per client):

* ``/video.mjpg``: ``multipart/x-mixed-replace`` of JPEG parts (what IP cameras serve), the clip's
  first ``--max-frames`` frames encoded once at start, sent in a loop at the clip's frame rate.
* ``/clip.mp4``: the clip file as progressive download (``Content-Length``, ``Range`` -> 206).

With ``--user``/``--password`` every route wants HTTP Basic authentication (401 otherwise); with
``--cert``/``--key`` it speaks HTTPS. Prints ``READY http(s)://127.0.0.1:PORT`` once listening;
SIGTERM/SIGINT stop it, SIGKILL is the camera losing power.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import logging
import re
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

BOUNDARY = "vtrackframe"
JPEG_QUALITY = 80
CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

logger = logging.getLogger("http_media_server")


def encode_jpegs(clip: Path, max_frames: int) -> tuple[list[bytes], float]:
    """The first ``max_frames`` frames of ``clip`` as JPEG bytes, and the clip's frame rate."""
    import av
    import cv2

    jpegs: list[bytes] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        for frame in container.decode(stream):
            ok, buf = cv2.imencode(
                ".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
            )
            if not ok:
                raise RuntimeError(f"JPEG encoding failed at frame {len(jpegs)}")
            jpegs.append(buf.tobytes())
            if len(jpegs) >= max_frames:
                break
    if not jpegs:
        raise RuntimeError(f"no frame decoded from {clip}")
    return jpegs, fps


class Handler(BaseHTTPRequestHandler):
    """Serves the routes above; settings are class attributes set by :func:`main`."""

    protocol_version = "HTTP/1.1"
    jpegs: ClassVar[list[bytes]] = []
    fps: ClassVar[float] = 25.0
    clip: ClassVar[Path] = Path()
    auth: ClassVar[str | None] = None  # expected "Basic ..." header value

    def log_message(self, format: str, *args: object) -> None:
        logger.debug(format, *args)

    def _authorized(self) -> bool:
        if self.auth is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), self.auth.encode()):
            return True
        body = b"authentication required\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="camera"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.split("?")[0] == "/video.mjpg":
            self._mjpeg()
        elif self.path.split("?")[0] == "/clip.mp4":
            self._file()
        else:
            self.send_error(404)

    def _mjpeg(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        interval = 1.0 / self.fps
        t0, paced, index = time.monotonic(), 0, 0
        try:
            while True:
                jpeg = self.jpegs[index % len(self.jpegs)]
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
                index, paced = index + 1, paced + 1
                delay = t0 + paced * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -1.0:  # fell behind (loaded machine): keep the rate, drop the backlog
                    t0, paced = time.monotonic(), 0
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return  # the client went away
        finally:
            self.close_connection = True

    def _file(self) -> None:
        size = self.clip.stat().st_size
        start, end = 0, size - 1
        status = 200
        wanted = self.headers.get("Range")
        if wanted:
            m = _RANGE.match(wanted.strip())
            if not m or (not m[1] and not m[2]):
                self.send_error(416)
                return
            if m[1]:
                start = int(m[1])
                end = min(int(m[2]), size - 1) if m[2] else size - 1
            else:  # suffix range: the last N bytes
                start = max(0, size - int(m[2]))
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        # one request per connection, said out loud: FFmpeg reuses an HTTP/1.1 connection the
        # server did not announce as closing, and a seek then reads EOF ("partial file")
        self.send_header("Connection", "close")
        self.close_connection = True
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        try:
            with self.clip.open("rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(CHUNK, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clip", type=Path, required=True, help="video file (MJPEG source, /clip.mp4)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--max-frames", type=int, default=150, help="frames of the MJPEG loop")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cert", type=Path, help="PEM certificate: serve HTTPS")
    parser.add_argument("--key", type=Path, help="PEM private key of --cert")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")

    Handler.jpegs, Handler.fps = encode_jpegs(args.clip, args.max_frames)
    Handler.clip = args.clip
    if args.user is not None:
        token = base64.b64encode(f"{args.user}:{args.password or ''}".encode()).decode()
        Handler.auth = f"Basic {token}"
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    scheme = "http"
    if args.cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"

    def shutdown(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    print(f"READY {scheme}://{args.host}:{args.port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
