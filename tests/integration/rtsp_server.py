"""A real RTSP server for the live-source tests: GStreamer's gst-rtsp-server serving an H.264 MP4.

Run with the system interpreter (python3-gi and gir1.2-gst-rtsp-server-1.0 are Debian packages,
not importable from the project's virtual environment)::

    /usr/bin/python3 tests/integration/rtsp_server.py --port 8554 --file clip.mp4 [--mount /cam] \
        [--user viewer --password pw] [--no-shared]

The clip is sent as recorded (no re-encoding: ``qtdemux ! h264parse ! rtph264pay``) in real time,
once, from its start; every client shares one pipeline (``--no-shared``: each client gets its own,
from the start). (A gapless loop by segment seeks does not survive the server's own seek on PLAY, so
tests give it a clip remuxed to the length they need.) With ``--user``/``--password`` it is a camera
that wants a password: HTTP Basic authentication, others get ``401 Unauthorized``.
Prints ``READY rtsp://127.0.0.1:PORT/MOUNT`` once listening; SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ROLE = "viewer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True, help="H.264 MP4 clip")
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", help="require this user (with --password)")
    parser.add_argument("--password", help="require this password (with --user)")
    parser.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.file.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )'
    )
    factory.set_shared(args.shared)
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 2

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://{args.host}:{args.port}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
